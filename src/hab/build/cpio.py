"""Initramfs archives in the kernel's `newc` cpio format, written directly.

Each entry is the magic `070701`, thirteen 8-digit hexadecimal fields (ino,
mode, uid, gid, nlink, mtime, file size, dev major/minor, rdev major/minor,
name size with its NUL, check), the NUL-terminated name padded to a multiple
of 4 bytes, then the data padded the same way; `TRAILER!!!` ends the
archive. Fixed inode numbers, owners and times make the output reproducible.
"""

from pathlib import Path

DIRECTORY = 0o040755
EXECUTABLE = 0o100755


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _entry(ino: int, name: str, mode: int, data: bytes = b"") -> bytes:
    encoded = name.encode() + b"\0"
    nlink = 2 if mode & 0o170000 == 0o040000 else 1
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    header = b"070701" + b"".join(f"{v:08X}".encode() for v in fields)
    return header + encoded + _pad(len(header) + len(encoded)) + data + _pad(len(data))


def archive(entries: list[tuple[str, int, bytes]]) -> bytes:
    """`(name, mode, data)` entries (names without a leading `/`, directories
    before their contents) as one archive."""
    parts = [_entry(i + 1, name, mode, data) for i, (name, mode, data) in enumerate(entries)]
    parts.append(_entry(0, "TRAILER!!!", 0))
    return b"".join(parts)


def write_init_archive(init: Path, out: Path) -> None:
    """An initramfs holding `init` as `/init` (plus `/dev` and `/proc`),
    rewritten only when its content changes."""
    data = archive([("dev", DIRECTORY, b""), ("proc", DIRECTORY, b""), ("init", EXECUTABLE, init.read_bytes())])
    if not out.is_file() or out.read_bytes() != data:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(out)
