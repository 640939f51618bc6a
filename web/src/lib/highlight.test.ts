import { describe, expect, it } from "vitest";
import { highlightHtml, kindLabel, languageFor } from "./highlight";

describe("highlightHtml", () => {
  it("marks up Python keywords and strings", () => {
    const html = highlightHtml('import os\nconn = connect(user=os.environ["PGUSER"])', "python");
    expect(html).toContain('<span class="hljs-keyword">import</span>');
    expect(html).toContain('<span class="hljs-string">&quot;PGUSER&quot;</span>');
  });

  it("escapes what it cannot highlight, so code never becomes markup", () => {
    expect(languageFor("text")).toBeNull();
    expect(highlightHtml("jdbc:x?<script>alert(1)</script>&a=1", "text")).toBe(
      "jdbc:x?&lt;script&gt;alert(1)&lt;/script&gt;&amp;a=1",
    );
    expect(highlightHtml("SELECT '<b>' FROM \"T\"", "sql")).not.toContain("<b>");
  });

  it("knows the artifact kinds", () => {
    expect(languageFor("yaml")).toBe("yaml");
    expect(kindLabel("pyspark")).toBe("PySpark");
    expect(kindLabel("notebook")).toBe("Notebook");
  });
});
