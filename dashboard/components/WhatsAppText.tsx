import { Fragment, type ReactNode } from "react";

/**
 * Text as WhatsApp shows it: *bold*, _italic_, ~strike~ and `monospace` / ```monospace```,
 * built as React elements (never HTML), so a message cannot inject markup.
 */
const TOKEN = /(```[\s\S]+?```|`[^`\n]+`|\*[^*\n]+\*|_[^_\n]+_|~[^~\n]+~)/g;

export function formatWhatsApp(text: string): ReactNode[] {
  return text.split(TOKEN).map((part, i) => {
    if (part.startsWith("```") && part.endsWith("```") && part.length > 6)
      return <code key={i} className="rounded bg-black/5 px-1 font-mono text-[0.9em]">{part.slice(3, -3)}</code>;
    if (part.length > 2 && part[0] === part[part.length - 1]) {
      const inner = part.slice(1, -1);
      if (part[0] === "`") return <code key={i} className="rounded bg-black/5 px-1 font-mono text-[0.9em]">{inner}</code>;
      if (part[0] === "*") return <strong key={i}>{inner}</strong>;
      if (part[0] === "_") return <em key={i}>{inner}</em>;
      if (part[0] === "~") return <s key={i}>{inner}</s>;
    }
    return <Fragment key={i}>{part}</Fragment>;
  });
}

export function WhatsAppText({ text, className }: { text: string; className?: string }) {
  return <span className={className}>{formatWhatsApp(text)}</span>;
}
