"""Splits a byte stream of concatenated JPEG or PNG images (FFmpeg's ``image2pipe``)
into whole images. Sans-I/O: feed it bytes, it returns the images they completed.

An image ends where its own structure says, not at the first byte pattern that looks
like an end: a JPEG is walked marker by marker (its entropy-coded data can contain no
marker but RSTn and the one that ends it), a PNG chunk by chunk up to ``IEND``. Bytes
that start neither are skipped up to the next image start, and an image larger than
``max_bytes`` is dropped, so the buffer never grows without bound.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
MAX_IMAGE_BYTES = 32 * 1024 * 1024  # a 4K PNG of camera content is well below this

_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length field
_JPEG_EOI, _JPEG_SOS = 0xD9, 0xDA
_BROKEN = -1  # a scan result: the image was malformed and has been dropped


class ImageSplitter:
    def __init__(self, max_bytes: int = MAX_IMAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.dropped = 0  # images (or runs of garbage) thrown away
        self._buf = bytearray()
        self._pos = 0  # where parsing of the current image resumes
        self._kind = ""  # "jpg", "png" or "" (looking for an image start)
        self._entropy = False  # JPEG: inside entropy-coded data after SOS

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """The images completed by ``data``, oldest first."""
        self._buf += data
        images: list[bytes] = []
        while self._kind or self._find_start():
            end = self._scan_jpeg() if self._kind == "jpg" else self._scan_png()
            if end == _BROKEN:
                continue  # dropped; look for the next start
            if end is None:
                if len(self._buf) > self.max_bytes:
                    self._drop(len(self._buf))
                break
            images.append(bytes(self._buf[:end]))
            self._reset(end)
        return images

    # --- finding an image start --------------------------------------------------------------

    def _find_start(self) -> bool:
        """Skip to the next image start; True when one is at the buffer's start."""
        while True:
            buf = self._buf
            starts = [i for i in (buf.find(JPEG_SOI), buf.find(PNG_SIGNATURE[:4])) if i >= 0]
            if not starts:
                # Keep a signature's first bytes at the end for the next feed.
                keep = next((n for n in (3, 2, 1) if buf.endswith(PNG_SIGNATURE[:n])), 0)
                keep = keep or (1 if buf.endswith(b"\xff") else 0)
                if len(buf) > keep:
                    self._drop(len(buf) - keep)
                return False
            if min(starts):
                self._drop(min(starts))
            if self._buf.startswith(JPEG_SOI):
                self._kind, self._pos = "jpg", 2
                return True
            if len(self._buf) < len(PNG_SIGNATURE):
                return False
            if self._buf.startswith(PNG_SIGNATURE):
                self._kind, self._pos = "png", len(PNG_SIGNATURE)
                return True
            self._drop(1)  # "\x89PNG" without the rest of the signature

    # --- JPEG ------------------------------------------------------------------------------

    def _scan_jpeg(self) -> int | None:
        """End offset of the JPEG at the buffer's start, or None if incomplete."""
        buf = self._buf
        i = self._pos
        while True:
            if self._entropy:
                # Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte) or RSTn;
                # anything else is the next marker.
                j = buf.find(b"\xff", i)
                if j < 0 or j + 1 >= len(buf):
                    self._pos = j if j >= 0 else len(buf)
                    return None
                following = buf[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    i = j + 1 if following == 0xFF else j + 2
                    continue
                self._entropy = False
                i = j
            if i + 2 > len(buf):
                self._pos = i
                return None
            if buf[i] != 0xFF:
                return self._corrupt()
            marker = buf[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker == _JPEG_EOI:
                return i + 2
            if marker in _JPEG_STANDALONE:
                i += 2
                continue
            if marker == 0xD8:  # a new SOI before this image ended: drop the broken one
                return self._corrupt(i)
            if i + 4 > len(buf):
                self._pos = i
                return None
            length: int = struct.unpack_from(">H", buf, i + 2)[0]
            if length < 2:
                return self._corrupt()
            i += 2 + length
            if marker == _JPEG_SOS:
                self._entropy = True
            if i > len(buf):
                # The segment continues beyond what we have; resume at its end.
                self._pos = i
                return None

    # --- PNG -------------------------------------------------------------------------------

    def _scan_png(self) -> int | None:
        buf = self._buf
        i = self._pos
        while True:
            if i + 8 > len(buf):
                self._pos = i
                return None
            length: int = struct.unpack_from(">I", buf, i)[0]
            kind = bytes(buf[i + 4 : i + 8])
            if length > self.max_bytes or not kind.isalpha():
                return self._corrupt()
            end = i + 12 + length  # length, type, data, CRC
            if kind == b"IEND":
                if end > len(buf):
                    self._pos = i
                    return None
                return end
            i = end

    # --- bookkeeping ---------------------------------------------------------------------------

    def _corrupt(self, resume_at: int = 1) -> int:
        """Throw the current image away; the search for the next start resumes after its
        first byte (or at ``resume_at``)."""
        self._drop(resume_at)
        return _BROKEN

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self.dropped += 1
        self._kind, self._pos, self._entropy = "", 0, False

    def _reset(self, n: int) -> None:
        del self._buf[:n]
        self._kind, self._pos, self._entropy = "", 0, False
