// Set before http/sendfile.ts is loaded: it reads WHARF_SENDFILE once, as wharf does at start-up.
process.env.WHARF_SENDFILE = "off";
const { bodyKindCases } = await import("./body-kinds.cases.js");

bodyKindCases("streamed");
