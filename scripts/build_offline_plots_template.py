"""Write plots/offline_template.html: DVC's plots page with Vega inlined, so `dvc plots show/diff` work offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN. This template has no
{scripts} placeholder (so DVC adds no CDN tags) and carries the three libraries inline, at the
versions DVC's renderer is written for. Re-run after changing versions:

    cd /tmp && npm pack vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2 && for f in *.tgz; do mkdir -p ${f%.tgz} && tar xzf $f -C ${f%.tgz}; done
    python scripts/build_offline_plots_template.py /tmp/vega-5.20.2 /tmp/vega-lite-5.2.0 /tmp/vega-embed-6.18.2
"""  # noqa: E501 (the usage that sys.exit prints: a shell command kept on one line)
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "plots" / "offline_template.html"
LIBRARIES = [
    ("vega", "build/vega.min.js"), ("vega-lite", "build/vega-lite.min.js"), ("vega-embed", "build/vega-embed.min.js")
]


def main(package_dirs: list[str]) -> None:
    if len(package_dirs) != len(LIBRARIES):
        sys.exit(__doc__)
    scripts = []
    for (name, build_file), folder in zip(LIBRARIES, package_dirs, strict=True):
        folder = Path(folder)
        package = folder / "package" if (folder / "package").is_dir() else folder
        version = json.loads((package / "package.json").read_text())["version"]
        license_line = (package / "LICENSE").read_text().splitlines()[0]
        code = (package / build_file).read_text().replace("</script", "<\\/script")
        scripts.append(f"<!-- {name} {version}, BSD-3-Clause, {license_line} -->\n<script>{code}</script>")
    page = "\n".join([
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        '    <meta charset="utf-8">',
        "    <title>blockzoo plots</title>",
        *scripts,
        "    <style>table { border-spacing: 15px; } img { max-width: 100%; }</style>",
        "</head>",
        "<body>",
        "    {plot_divs}",
        "</body>",
        "</html>",
        "",
    ])
    TEMPLATE.write_text(page)
    print(f"wrote {TEMPLATE.relative_to(ROOT)} ({TEMPLATE.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(sys.argv[1:])
