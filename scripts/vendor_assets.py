# SPDX-License-Identifier: AGPL-3.0-or-later
"""Vendor the front-end libraries into the package's static files, pinned and hashed.

    python scripts/vendor_assets.py           fetch the pinned versions with `npm pack`
    python scripts/vendor_assets.py --check   verify the committed files against LOCK.json

Nothing is loaded from a CDN: each library's minified file and its licence live under
``src/socialdesk/web/static/vendor/``, and ``LOCK.json`` records package, version,
file, sha256 and licence. ``--check`` needs no network (CI runs it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "src" / "socialdesk" / "web" / "static" / "vendor"
LOCK_FILE = VENDOR_DIR / "LOCK.json"

# Some packages ship no licence file in their npm tarball; their package.json names the
# licence and the author, which is what the licence text below is built from.
_MIT_TEXT = """MIT License

Copyright (c) {holder}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    #: The file inside the npm tarball (under ``package/``).
    source: str
    #: The name it gets under static/vendor/.
    target: str


#: htmx stays on 2.0.x: 4.x changed attribute inheritance (see DESIGN.md).
#: FullCalendar 7 ships its standard views (daygrid, timegrid, list, interaction) in the
#: one ``fullcalendar`` package (the ``@fullcalendar/*`` plugin packages stopped at 6.x);
#: ``all/global.js`` is its browser build with every standard plugin and a Temporal shim.
#: Its styles are the skeleton plus the "breezy" theme (a plugin and its CSS) in indigo.
ASSETS = (
    Asset("htmx.org", "2.0.11", "dist/htmx.min.js", "htmx.min.js"),
    Asset("alpinejs", "3.17.5", "dist/cdn.min.js", "alpine.min.js"),
    Asset("fullcalendar", "7.1.0", "all/global.js", "fullcalendar.global.js"),
    Asset("fullcalendar", "7.1.0", "skeleton.css", "fullcalendar.skeleton.css"),
    Asset("fullcalendar", "7.1.0", "themes/breezy/global.js", "fullcalendar.breezy.js"),
    Asset("fullcalendar", "7.1.0", "themes/breezy/theme.css", "fullcalendar.breezy.css"),
    Asset(
        "fullcalendar",
        "7.1.0",
        "themes/breezy/palettes/indigo.css",
        "fullcalendar.breezy-indigo.css",
    ),
)

_LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _npm_pack(asset: Asset, workdir: Path) -> Path:
    result = subprocess.run(
        ["npm", "pack", f"{asset.package}@{asset.version}", "--json", "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    filename = str(json.loads(result.stdout)[0]["filename"])
    return workdir / filename


def _member(archive: tarfile.TarFile, name: str) -> bytes | None:
    try:
        handle = archive.extractfile(f"package/{name}")
    except KeyError:
        return None
    return handle.read() if handle is not None else None


def _licence(archive: tarfile.TarFile, asset: Asset) -> tuple[bytes, str]:
    manifest = json.loads(_member(archive, "package.json") or b"{}")
    spdx = str(manifest.get("license", "UNKNOWN"))
    for name in _LICENCE_NAMES:
        text = _member(archive, name)
        if text is not None:
            return text, spdx
    if spdx != "MIT":
        sys.exit(f"{asset.package}: no licence file in the package and licence {spdx!r} is not MIT")
    author = manifest.get("author", "the authors")
    holder = author.get("name", "the authors") if isinstance(author, dict) else str(author)
    note = (
        f"(The npm package {asset.package}@{asset.version} ships no licence file; its "
        "package.json declares MIT. Text reconstructed from that declaration.)\n\n"
    )
    return (note + _MIT_TEXT.format(holder=f"{holder} and contributors")).encode(), spdx


def vendor() -> None:
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    lock: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="socialdesk-vendor-") as tmp:
        for asset in ASSETS:
            tarball = _npm_pack(asset, Path(tmp))
            with tarfile.open(tarball) as archive:
                content = _member(archive, asset.source)
                if content is None:
                    sys.exit(f"{asset.package}@{asset.version} has no {asset.source}")
                licence_text, spdx = _licence(archive, asset)
            target = VENDOR_DIR / asset.target
            target.write_bytes(content)
            licence_file = VENDOR_DIR / f"{Path(asset.target).name.split('.')[0]}.LICENSE"
            licence_file.write_bytes(licence_text)
            lock.append(
                {
                    "package": asset.package,
                    "version": asset.version,
                    "file": asset.target,
                    "sha256": sha256(target),
                    "licence": spdx,
                    "licence_file": licence_file.name,
                    "licence_sha256": sha256(licence_file),
                }
            )
            print(f"vendored {asset.package}@{asset.version} -> {target.relative_to(ROOT)}")
            tarball.unlink()
    LOCK_FILE.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {LOCK_FILE.relative_to(ROOT)}")


def check() -> int:
    """0 when every locked file is present with its recorded hash, 1 otherwise."""
    if not LOCK_FILE.is_file():
        print(f"missing {LOCK_FILE.relative_to(ROOT)}; run scripts/vendor_assets.py")
        return 1
    entries = json.loads(LOCK_FILE.read_text(encoding="utf-8"))
    problems = []
    pinned = {(asset.package, asset.version, asset.target) for asset in ASSETS}
    for entry in entries:
        if (entry["package"], entry["version"], entry["file"]) not in pinned:
            problems.append(f"{entry['package']}@{entry['version']} is not what ASSETS pins")
        for name_key, hash_key in (("file", "sha256"), ("licence_file", "licence_sha256")):
            path = VENDOR_DIR / entry[name_key]
            if not path.is_file():
                problems.append(f"{entry[name_key]} is missing")
            elif sha256(path) != entry[hash_key]:
                problems.append(f"{entry[name_key]} does not match its sha256 in LOCK.json")
    if len(entries) != len(ASSETS):
        problems.append("LOCK.json and ASSETS list different packages; run the script again")
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{len(entries)} vendored package(s) match LOCK.json")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="verify vendored files (no network)")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    if shutil.which("npm") is None:
        print("npm is needed to fetch the packages (apt-get install npm)")
        return 1
    vendor()
    return check()


if __name__ == "__main__":
    sys.exit(main())
