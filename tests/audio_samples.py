"""Audio built byte by byte for tests: MP3 frames, ID3 tags, WAV files.

MP3 frames here have real headers (so lengths, rates and sync follow the
MPEG rules) and a payload of one repeated byte that names the frame, so a
test can tell which frame of which part ended up where.
"""

from __future__ import annotations

import struct

from shared.audio.wav import wav_bytes

# MPEG-1 layer III bitrates (kbit/s) by index.
_MPEG1_L3 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_RATE_INDEX = {44100: 0, 48000: 1, 32000: 2, 22050: 0, 24000: 1, 16000: 2}


def mp3_frame(tag: int, *, bitrate: int = 128, rate: int = 44100, mono: bool = True, padding: bool = False) -> bytes:
    """One layer III frame (MPEG-1 at 32/44.1/48 kHz, MPEG-2 below) whose payload bytes all equal ``tag``."""
    mpeg1 = rate >= 32000
    if mpeg1:
        index = _MPEG1_L3.index(bitrate)
        length = 144 * bitrate * 1000 // rate + int(padding)
        b1 = 0xFB  # sync, MPEG-1, layer III, no CRC
    else:
        index = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160).index(bitrate)
        length = 72 * bitrate * 1000 // rate + int(padding)
        b1 = 0xF3  # sync, MPEG-2, layer III, no CRC
    b2 = (index << 4) | (_RATE_INDEX[rate] << 2) | (int(padding) << 1)
    b3 = 0xC0 if mono else 0x40  # mono / joint stereo
    return bytes([0xFF, b1, b2, b3]) + bytes([tag & 0xFF]) * (length - 4)


def xing_frame(*, rate: int = 44100, mono: bool = True) -> bytes:
    """A first frame carrying a Xing header (a VBR table of contents: no audio of its own)."""
    frame = bytearray(mp3_frame(0, rate=rate, mono=mono))
    side_info = 17 if mono else 32
    at = 4 + side_info
    frame[at : at + 4] = b"Xing"
    frame[at + 4 : at + 8] = struct.pack(">I", 0x0F)
    return bytes(frame)


def id3v2(payload: bytes = b"TIT2\x00\x00\x00\x05\x00\x00\x03abcd") -> bytes:
    size = len(payload)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + payload


def id3v1() -> bytes:
    return b"TAG" + b"\x00" * 125


def mp3_file(tags: list[int], *, id3: bool = False, xing: bool = False, trailer: bool = False, **frame: object) -> bytes:
    head = (id3v2() if id3 else b"") + (xing_frame(rate=frame.get("rate", 44100), mono=frame.get("mono", True)) if xing else b"")  # type: ignore[arg-type]
    body = b"".join(mp3_frame(t, **frame) for t in tags)  # type: ignore[arg-type]
    return head + body + (id3v1() if trailer else b"")


def ramp_wav(samples: int, *, start: int = 0, rate: int = 24000) -> bytes:
    """A mono 16-bit WAV whose samples count up from ``start`` (so order and gaps show)."""
    values = [((start + i) % 65536) - 32768 for i in range(samples)]
    return wav_bytes(struct.pack(f"<{samples}h", *values), rate)
