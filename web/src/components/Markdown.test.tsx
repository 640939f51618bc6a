import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { Markdown, MarkdownSnippet } from "./Markdown";

const TEXT = [
  "All orders placed in the shop. **Source of truth** for `revenue`.",
  "",
  "- one row per order",
  "- see [the runbook](https://wiki.example.com/orders)",
  "",
  '<img src=x onerror="alert(1)"> <script>alert(2)</script> [click](javascript:alert(3))',
].join("\n");

describe("Markdown", () => {
  it("renders emphasis, code, lists and links, opening links in a new tab", () => {
    const { container } = render(<Markdown text={TEXT} />);
    expect(container.querySelector("strong")?.textContent).toBe("Source of truth");
    expect(container.querySelector("code")?.textContent).toBe("revenue");
    expect(container.querySelectorAll("li")).toHaveLength(2);
    const link = container.querySelector('a[href="https://wiki.example.com/orders"]');
    expect(link?.getAttribute("target")).toBe("_blank");
    expect(link?.getAttribute("rel")).toContain("noopener");
    expect(container.textContent).not.toContain("**");
  });

  it("shows an image as a link to it, so readers' browsers fetch nothing on their own", () => {
    const { container } = render(<Markdown text="![orders dashboard](https://img.example.com/pixel.png)" />);
    expect(container.querySelector("img")).toBeNull();
    const link = container.querySelector('a[href="https://img.example.com/pixel.png"]');
    expect(link?.textContent).toBe("orders dashboard");
  });

  it("never renders raw HTML (it stays visible as text) or script URLs", () => {
    const { container } = render(<Markdown text={TEXT} />);
    expect(container.querySelector("img, script, [onerror]")).toBeNull();
    expect(container.textContent).toContain("<script>alert(2)</script>");
    for (const a of container.querySelectorAll("a")) {
      expect(a.getAttribute("href") ?? "").not.toMatch(/^javascript:/i);
    }
  });
});

describe("MarkdownSnippet", () => {
  it("is one paragraph of running text with inline marks, no blocks or links", () => {
    const { container } = render(<MarkdownSnippet className="result__desc" text={TEXT} />);
    const p = container.querySelector("p.result__desc");
    expect(p).not.toBeNull();
    expect(container.querySelectorAll("p")).toHaveLength(1);
    expect(container.querySelector("ul, li, a, img, script")).toBeNull();
    expect(p?.querySelector("strong")?.textContent).toBe("Source of truth");
    expect(p?.textContent?.replace(/\s+/g, " ")).toContain("one row per order see the runbook");
    expect(p?.textContent).not.toContain("**");
  });
});
