import type { ReactNode } from "react";
import ReactMarkdown, { type Components } from "react-markdown";

/*
 * Descriptions are Markdown written by users. react-markdown renders it as React elements:
 * raw HTML in the text is never rendered and link URLs pass its safe-protocol filter (no
 * `javascript:`), so a description cannot run anything in a reader's browser. Images become
 * links: showing one would make every reader's browser fetch a URL the author chose (a
 * tracking pixel learns who looked at the dataset).
 */

const REL = "noopener noreferrer nofollow ugc";

const FULL: Components = {
  a: ({ node: _node, children, ...props }) => (
    <a {...props} target="_blank" rel={REL}>
      {children}
    </a>
  ),
  img: ({ src, alt }) =>
    typeof src === "string" && src ? (
      <a href={src} target="_blank" rel={REL}>
        {alt || src}
      </a>
    ) : null,
};

/** A whole description: paragraphs, lists, emphasis, code, links and headings. */
export function Markdown({ text }: { text: string }) {
  return (
    <div className="prose">
      <ReactMarkdown components={FULL}>{text}</ReactMarkdown>
    </div>
  );
}

// A snippet sits inside a result row: inline marks only (no blocks, no links in a link row);
// each block becomes its text followed by a space, and the row clamps the whole.
const BLOCKS = ["p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"] as const;
const INLINE = ["strong", "em", "code", "del"];

function Spaced({ children }: { children?: ReactNode }) {
  return <>{children} </>;
}

const SNIPPET: Components = Object.fromEntries(BLOCKS.map((tag) => [tag, Spaced]));

/** A description as running text with its emphasis, for lists. */
export function MarkdownSnippet({ text, className }: { text: string; className?: string }) {
  return (
    <p className={className}>
      <ReactMarkdown allowedElements={[...INLINE, ...BLOCKS]} unwrapDisallowed components={SNIPPET}>
        {text}
      </ReactMarkdown>
    </p>
  );
}
