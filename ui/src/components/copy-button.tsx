import { useState } from "preact/hooks";

/**
 * Puts `text` on the clipboard. The Clipboard API exists only in secure contexts (HTTPS,
 * localhost); a dashboard reached as http://HOST:5000 falls back to a selected text area.
 */
async function copy(text: string): Promise<boolean> {
  if (navigator.clipboard && isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the older way
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  const done = document.execCommand("copy");
  area.remove();
  return done;
}

export function CopyButton(props: { text: string; label: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const onClick = async () => {
    setState((await copy(props.text)) ? "copied" : "failed");
    setTimeout(() => setState("idle"), 2000);
  };
  return (
    <button type="button" class="copy" onClick={onClick} aria-label={props.label}>
      {state === "copied" ? "Copied" : state === "failed" ? "Select and copy" : "Copy"}
      <span class="offscreen" aria-live="polite">
        {state === "copied" ? "copied to the clipboard" : ""}
      </span>
    </button>
  );
}
