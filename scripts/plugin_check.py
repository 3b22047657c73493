#!/usr/bin/env python3
"""Check a plugin ZIP the way plugins.qgis.org checks an upload, as far as that can be done offline.

    python3 scripts/plugin_check.py [dist/semiseg-<version>.zip] [--release] [--no-scan]

Prints one line per problem (the file, then the problem) and exits 1, or prints
"plugin-check: <zip> passes (...)". Lines starting with "warning:" do not fail the check.

What it follows (the plugin repository's own code, qgis/QGIS-Plugins-Website, which replaced
qgis/QGIS-Django):
- plugins/validator.py, refused at upload: over 25,000,000 bytes; a name with "..", a leading
  "/", a backslash or a drive letter; ".pyc" anywhere in a name; a __MACOSX, .git or __pycache__
  folder; a bad CRC; no top folder, or one that is not a Python identifier ([A-Za-z][A-Za-z0-9-_]+
  and isidentifier() for new plugins); no __init__.py, metadata.txt or LICENSE in it; a
  metadata.txt that configparser (with its default interpolation, so a lone "%" breaks it) cannot
  read, without [general], or without name, description, version, qgisMinimumVersion, author,
  email, about, tracker, repository; an author with "/"; tracker/repository/homepage that are not
  URLs (the site also fetches them, which needs the network: placeholders are named here instead).
  Several top folders and a `supportsQt6` flag are warnings there; QGIS 4 takes a plugin only
  when qgisMaximumVersion is 4.x or later (the site asks for 4.99).
- plugins/security_scanner.py, run after upload: a Bandit finding or a detect-secrets finding
  blocks the version ("critical"). Bandit runs over the unpacked ZIP with the tests the site
  enables (its bandit_rules.json: all but B109, B404, B410, B411) and no severity or confidence
  filter (`-t` without `-ll`), so a LOW/LOW finding blocks as well; `# nosec` is honoured as
  Bandit honours it. detect-secrets runs `scan --all-files` without metadata.txt and without
  IPPublicDetector (disabled there). Hidden files, executable or binary files (.exe .dll .so
  .dylib .bat .sh .ps1 .cmd) and .py files with the executable bit are flagged there without
  blocking; here they fail the check, since the plugin has none of them.
"""
import argparse
import configparser
import io
import json
import os
import re
import shutil
import subprocess  # nosec B404 - runs bandit and detect-secrets with fixed argument lists
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 25_000_000
REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about",
            "tracker", "repository")
URL_FIELDS = {"tracker": "http://bugs", "repository": "http://repo", "homepage": "http://homepage"}
BOOLEANS = ("experimental", "deprecated", "server")
FORBIDDEN_DIRS = ("__MACOSX", ".git", "__pycache__")
BINARY_SUFFIXES = (".exe", ".dll", ".so", ".dylib", ".bat", ".sh", ".ps1", ".cmd", ".pyd", ".pyo", ".pyc")
BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
# plugins.qgis.org's enabled Bandit rules (bandit_rules.json, "enabled": true); tests the
# installed Bandit no longer has (B111, B320) are left out, as Bandit would only warn about them.
BANDIT_TESTS = (
    "B101 B102 B103 B104 B105 B106 B107 B108 B110 B111 B112 B113 B201 B202 B301 B302 B303 B304 B305 "
    "B306 B307 B308 B310 B311 B312 B313 B314 B315 B316 B317 B318 B319 B320 B321 B323 B324 B401 B402 "
    "B403 B405 B406 B407 B408 B409 B412 B413 B501 B502 B503 B504 B505 B506 B507 B508 B509 B601 B602 "
    "B603 B604 B605 B606 B607 B608 B609 B610 B611 B612 B613 B614 B615 B701 B702 B703 B704").split()
SECRETS_DISABLED = ("IPPublicDetector",)
PLACEHOLDER_HOSTS = re.compile(r"(^|\.)(example\.(org|com|net)|localhost)$|\.(example|invalid|test)$")


def default_zip() -> Path:
    meta = configparser.ConfigParser(interpolation=None)
    meta.read(REPO / "metadata.txt", encoding="utf-8")
    return REPO / "dist" / f"semiseg-{meta['general']['version']}.zip"


def version_tuple(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else -1 for part in text.strip().split("."))


class Report:
    def __init__(self):
        self.problems, self.warnings = [], []

    def problem(self, where: str, what: str):
        self.problems.append(f"{where}: {what}")

    def warning(self, where: str, what: str):
        self.warnings.append(f"warning: {where}: {what}")


def check_names(zf: zipfile.ZipFile, report: Report) -> str:
    """Name rules; returns the plugin's top folder ('' when there is none)."""
    names = zf.namelist()
    seen = set()

    def once(where: str, what: str):  # a refused folder is one line, not one per file in it
        if where not in seen:
            seen.add(where)
            report.problem(where, what)

    for name in names:
        parts = [p for p in name.split("/") if p]
        if ".." in name:
            once(name, "path contains '..' (plugins.qgis.org refuses path information)")
            continue
        if name.startswith(("/", os.sep)) or "\\" in name or re.match(r"^[A-Za-z]:", name):
            once(name, "absolute path, backslash or drive letter (plugins.qgis.org refuses path information)")
            continue
        bad_part = next((i for i, p in enumerate(parts) if p in FORBIDDEN_DIRS or p.startswith(".")), None)
        if bad_part is not None:
            part = parts[bad_part]
            folder = bad_part < len(parts) - 1 or name.endswith("/")
            where = "/".join(parts[:bad_part + 1]) + ("/" if folder else "")
            if part in FORBIDDEN_DIRS:
                once(where, f"'{part}' folder (refused by plugins.qgis.org)")
            else:
                once(where, f"hidden {'folder' if folder else 'file'} (flagged by plugins.qgis.org's scan)")
            continue
        if ".pyc" in name:
            once(name, "compiled Python (.pyc) is refused by plugins.qgis.org")
            continue
        if name.endswith("/"):
            continue
        info = zf.getinfo(name)
        if name.lower().endswith(BINARY_SUFFIXES):
            once(name, "executable or binary file (flagged by plugins.qgis.org's scan)")
        elif info.file_size >= 4 and zf.read(name)[:4].startswith(BINARY_MAGIC):
            once(name, "executable binary (ELF/PE/Mach-O header)")
        elif name.endswith(".py") and (info.external_attr >> 16) & 0o111:
            once(name, "Python file with the executable bit (flagged by plugins.qgis.org's scan)")
    bad = zf.testzip()
    if bad:
        report.problem(bad, "bad CRC: the ZIP is damaged")
    if not names or "/" not in names[0]:
        report.problem(names[0] if names else "(empty)", "the first entry is not inside a folder: "
                       "a plugin ZIP holds one top folder")
        return ""
    top = names[0].split("/", 1)[0]
    others = sorted({n.split("/", 1)[0] for n in names} - {top})
    if others:
        report.problem(", ".join(others), f"more top-level entries than the plugin folder {top}/ "
                       "(plugins.qgis.org reads only the first)")
    if not (re.match(r"^[A-Za-z][A-Za-z0-9-_]+$", top) and top.isidentifier()):
        report.problem(f"{top}/", "the top folder must be a Python identifier (letters, digits, '_'; "
                       "not starting with a digit)")
    for required in ("__init__.py", "metadata.txt", "LICENSE"):
        if f"{top}/{required}" not in names:
            report.problem(f"{top}/{required}", "missing (plugins.qgis.org requires it in the plugin folder)")
    return top


def check_metadata(zf: zipfile.ZipFile, top: str, report: Report, release: bool) -> dict:
    where = f"{top}/metadata.txt"
    if where not in zf.namelist():
        return {}
    parser = configparser.ConfigParser()  # as the site reads it: default interpolation included
    parser.optionxform = str
    try:
        parser.read_file(io.StringIO(zf.read(where).decode("utf-8")))
        if not parser.has_section("general"):
            report.problem(where, "no [general] section")
            return {}
        meta = dict(parser.items("general"))
    except (configparser.Error, UnicodeDecodeError) as exc:
        report.problem(where, f"cannot be read as plugins.qgis.org reads it: {str(exc).splitlines()[0]}")
        return {}
    for key in REQUIRED:
        if not meta.get(key, "").strip():
            report.problem(where, f"required field '{key}' is {'empty' if key in meta else 'missing'}")
    if "/" in meta.get("author", ""):
        report.problem(where, "author must not contain '/'")
    for key in BOOLEANS:
        if key in meta and meta[key].strip().lower() not in ("true", "false", "yes", "no", "1", "0"):
            report.problem(where, f"{key}={meta[key]} is not a boolean (True/False)")
    minimum, maximum = meta.get("qgisMinimumVersion", ""), meta.get("qgisMaximumVersion", "")
    if minimum and -1 in version_tuple(minimum):
        report.problem(where, f"qgisMinimumVersion={minimum} is not a version number")
    if not maximum:
        report.problem(where, "no qgisMaximumVersion: QGIS 4 takes the plugin only with 4.99 (or 4.x)")
    elif -1 in version_tuple(maximum) or version_tuple(maximum) < (4,):
        report.problem(where, f"qgisMaximumVersion={maximum}: QGIS 4 takes the plugin only with 4.99 (or 4.x)")
    if "supportsQt6" in meta:
        report.warning(where, "supportsQt6 is deprecated on plugins.qgis.org (qgisMaximumVersion decides)")
    icon = meta.get("icon", "")
    if icon and f"{top}/{icon[2:] if icon.startswith('./') else icon}" not in zf.namelist():
        report.problem(where, f"icon={icon} is not in the ZIP")
    placeholders = []
    for key, forbidden in URL_FIELDS.items():
        url = meta.get(key, "").strip()
        if not url:
            continue
        parsed = urlparse(url)
        if url == forbidden or not (parsed.scheme in ("http", "https") and parsed.netloc):
            report.problem(where, f"{key}={url} is not a valid http(s) URL")
        elif PLACEHOLDER_HOSTS.search(parsed.hostname or ""):
            placeholders.append(f"{key}={url}")
    email = meta.get("email", "").strip()
    if PLACEHOLDER_HOSTS.search(email.rpartition("@")[2].lower()):
        placeholders.append(f"email={email}")
    if placeholders:
        what = (f"placeholders {', '.join(placeholders)}: plugins.qgis.org fetches the links at upload; "
                "set the real links in engine/pyproject.toml [project.urls] (email in metadata.txt)")
        (report.problem if release else report.warning)(where, what)
    return meta


def scanner(tool: str, python: str) -> list:
    """The command for bandit/detect-secrets: this Python's module, or the engine venv's."""
    module = {"bandit": "bandit", "detect-secrets": "detect_secrets"}[tool]
    for candidate in [python, sys.executable, str(REPO / ".venv" / "bin" / "python")]:
        if candidate and Path(candidate).is_file():
            probe = subprocess.run([candidate, "-c", f"import {module}"], capture_output=True)  # nosec B603
            if probe.returncode == 0:
                return [candidate, "-m", module]
    found = shutil.which(tool)
    return [found] if found else []


def run_bandit(folder: Path, report: Report, python: str) -> int:
    cmd = scanner("bandit", python)
    if not cmd:
        report.problem("bandit", "not installed (make install puts it into .venv; or --no-scan)")
        return 0
    listed = subprocess.run(cmd + ["--help"], capture_output=True, text=True).stdout  # nosec B603
    tests = [t for t in BANDIT_TESTS if re.search(rf"^\s+{t}\s", listed, re.M)] or BANDIT_TESTS
    result = subprocess.run(cmd + ["-r", str(folder), "-f", "json", "-q", "-t", ",".join(tests)],  # nosec B603
                            capture_output=True, text=True)
    try:
        found = json.loads(result.stdout)
    except json.JSONDecodeError:
        report.problem("bandit", f"no report (exit {result.returncode}): "
                       f"{(result.stderr.strip().splitlines() or ['?'])[-1]}")
        return len(tests)
    for err in found.get("errors", []):
        report.problem(os.path.relpath(err.get("filename", "?"), folder), f"bandit could not scan it: {err.get('reason')}")
    for hit in sorted(found.get("results", []), key=lambda h: (h["filename"], h["line_number"])):
        report.problem(f"{os.path.relpath(hit['filename'], folder)}:{hit['line_number']}",
                       f"bandit {hit['test_id']} ({hit['issue_severity']}/{hit['issue_confidence']}): "
                       f"{hit['issue_text']}")
    return len(tests)


def run_detect_secrets(folder: Path, report: Report, python: str):
    cmd = scanner("detect-secrets", python)
    if not cmd:
        report.problem("detect-secrets", "not installed (make install puts it into .venv; or --no-scan)")
        return
    cmd += ["scan", "--all-files", "--exclude-files", r"metadata\.txt"]
    for plugin in SECRETS_DISABLED:
        cmd += ["--disable-plugin", plugin]
    result = subprocess.run(cmd + ["."], cwd=folder, capture_output=True, text=True)  # nosec B603
    try:
        found = json.loads(result.stdout).get("results", {})
    except json.JSONDecodeError:
        report.problem("detect-secrets", f"no report (exit {result.returncode}): "
                       f"{(result.stderr.strip().splitlines() or ['?'])[-1]}")
        return
    for path, secrets in sorted(found.items()):
        for secret in secrets:
            report.problem(f"{path}:{secret.get('line_number', 0)}", f"detect-secrets: {secret.get('type')}")


def check(archive: Path, release: bool = False, scan: bool = True, python: str = "") -> Report:
    report = Report()
    size = archive.stat().st_size
    if size > MAX_BYTES:
        report.problem(str(archive), f"{size:,} bytes, over plugins.qgis.org's {MAX_BYTES:,}")
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        report.problem(str(archive), f"not a ZIP file ({exc})")
        return report
    with zf:
        top = check_names(zf, report)
        report.meta = check_metadata(zf, top, report, release) if top else {}
        report.files = sum(1 for n in zf.namelist() if not n.endswith("/"))
        report.size = size
        report.bandit_tests = 0
        if scan:
            with tempfile.TemporaryDirectory(prefix="plugin-check-") as tmp:
                safe = [n for n in zf.namelist() if ".." not in n and not n.startswith(("/", "\\"))]
                zf.extractall(tmp, members=safe)
                report.bandit_tests = run_bandit(Path(tmp), report, python)
                run_detect_secrets(Path(tmp), report, python)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", nargs="?", type=Path, default=None, help="default: dist/semiseg-<version>.zip")
    parser.add_argument("--release", action="store_true", help="placeholder links fail the check")
    parser.add_argument("--no-scan", action="store_true", help="skip Bandit and detect-secrets")
    parser.add_argument("--scanner-python", default="", help="a Python with bandit and detect-secrets "
                        "(default: this one, else .venv/bin/python)")
    args = parser.parse_args(argv)
    archive = args.zip or default_zip()
    if not archive.is_file():
        print(f"{archive}: no such file (make plugin builds it)")
        return 1
    report = check(archive, release=args.release, scan=not args.no_scan, python=args.scanner_python)
    for line in report.warnings + report.problems:
        print(line)
    if report.problems:
        return 1
    scans = (f"bandit: {report.bandit_tests} tests, no finding; detect-secrets: no secret"
             if not args.no_scan else "scans skipped")
    print(f"plugin-check: {archive} passes ({report.files} files, {report.size / 1e6:.1f} MB, "
          f"metadata complete, QGIS {report.meta.get('qgisMinimumVersion')}-{report.meta.get('qgisMaximumVersion')}, "
          f"{scans}; links not fetched offline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
