import type { MetadataTransaction } from "./metadata-store.js";

/** The transaction's handle: the statements while it is open, a refusal for every call after. */
export function whileOpen(statements: MetadataTransaction, isOpen: () => boolean): MetadataTransaction {
  return new Proxy(statements, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]): unknown => {
        if (!isOpen()) return Promise.reject(new Error("this metadata transaction has ended"));
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
