"""Write the demo's digest into docs/: the text part, the HTML part with its evidence map, and a
screenshot of the HTML taken with headless Chromium (when installed).

    python scripts/render_demo_docs.py --eml data/outbox/<id>.eml --out docs
"""
from __future__ import annotations

import argparse
import email
import email.policy
import shutil
import subprocess
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eml", required=True, type=Path)
    p.add_argument("--out", default=Path("docs"), type=Path)
    p.add_argument("--height", type=int, default=2400, help="screenshot height in pixels")
    args = p.parse_args(argv)
    msg = email.message_from_bytes(args.eml.read_bytes(), policy=email.policy.default)
    args.out.mkdir(parents=True, exist_ok=True)
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in msg.walk():
        cid = part.get("Content-ID")
        if cid and part.get_content_type() == "image/png":
            name = cid.strip("<>") + ".png"
            (args.out / name).write_bytes(part.get_content())
            html = html.replace(f"cid:{cid.strip('<>')}", name)
    (args.out / "demo-digest.txt").write_text(f"Subject: {msg['Subject']}\n\n{text}", encoding="utf-8")
    html_path = args.out / "demo-digest.html"
    html_path.write_text(html, encoding="utf-8")
    print(f"wrote {args.out / 'demo-digest.txt'} and {html_path}")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        print("no Chromium found: skipped the screenshot (apt-get install chromium)", file=sys.stderr)
        return 0
    shot = (args.out / "demo-digest.png").resolve()
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", f"--user-data-dir={args.out.resolve() / '.chromium-profile'}",
                    f"--window-size=900,{args.height}", f"--screenshot={shot}", html_path.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    shutil.rmtree(args.out / ".chromium-profile", ignore_errors=True)
    print(f"wrote {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
