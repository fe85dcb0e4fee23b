import { Fragment, type ReactNode } from "react";

// WhatsApp's own markup: *bold*, _italic_, ~strike~, `code` and ```monospace```, shown as the
// customer sees it. Markers only count at word edges, as in WhatsApp.
const PATTERN = /```([\s\S]+?)```|`([^`\n]+)`|(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])|(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])|(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])/g;

export function formatWhatsApp(text: string): ReactNode {
  const out: ReactNode[] = [];
  let last = 0;
  let key = 0;
  for (const match of text.matchAll(PATTERN)) {
    const index = match.index ?? 0;
    if (index > last) out.push(text.slice(last, index));
    const [, block, code, bold, italic, strike] = match;
    if (block !== undefined) out.push(<code key={key++} className="block whitespace-pre-wrap rounded bg-zinc-900/5 px-1.5 py-1 font-mono text-[13px]">{block}</code>);
    else if (code !== undefined) out.push(<code key={key++} className="rounded bg-zinc-900/5 px-1 font-mono text-[13px]">{code}</code>);
    else if (bold !== undefined) out.push(<strong key={key++}>{bold}</strong>);
    else if (italic !== undefined) out.push(<em key={key++}>{italic}</em>);
    else if (strike !== undefined) out.push(<s key={key++}>{strike}</s>);
    last = index + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return <Fragment>{out}</Fragment>;
}
