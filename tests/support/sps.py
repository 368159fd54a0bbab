"""An H.264 sequence parameter set encoder (ITU-T H.264 §7.3.2.1.1, Annex E), written
apart from the parser so tests can build an SPS for any valid parameters, and a
hypothesis strategy for those parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135)


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        assert 0 <= value < 1 << n
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def flag(self, value: bool) -> None:
        self.u(1, int(value))

    def ue(self, value: int) -> None:
        """Exp-Golomb: as many zeros as value+1 has bits after its first, then value+1."""
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit, then zeros to the byte boundary
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes (§7.4.1): 00 00 0x (x <= 3) -> 00 00 03 0x."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


@dataclass
class Vui:
    aspect_ratio_idc: int | None = None  # 255: Extended_SAR with sar width/height
    overscan: bool | None = None
    video_format: tuple[int, bool, tuple[int, int, int] | None] | None = None
    chroma_loc: tuple[int, int] | None = None
    timing: tuple[int, int, bool] | None = None  # num_units_in_tick, time_scale, fixed


@dataclass
class Sps:
    profile_idc: int = 66
    constraints: int = 0
    level_idc: int = 30
    sps_id: int = 0
    chroma_format_idc: int = 1
    separate_colour_plane: bool = False
    bit_depth_luma_minus8: int = 0
    bit_depth_chroma_minus8: int = 0
    scaling_lists: list[list[int] | None] | None = None  # delta_scale values per list
    log2_max_frame_num_minus4: int = 0
    poc_type: int = 0
    poc_fields: tuple[int, ...] = (0,)  # per type: (lsb,) or (always, nonref, t2b, *cycle)
    max_num_ref_frames: int = 1
    gaps: bool = False
    width_mbs: int = 20
    height_map_units: int = 15
    frame_mbs_only: bool = True
    mb_adaptive: bool = False
    direct_8x8: bool = True
    crop: tuple[int, int, int, int] | None = None  # left, right, top, bottom offsets
    vui: Vui | None = field(default=None)

    def encode(self, start_code: bool = False) -> bytes:
        w = BitWriter()
        w.u(8, self.profile_idc)
        w.u(8, self.constraints)
        w.u(8, self.level_idc)
        w.ue(self.sps_id)
        if self.profile_idc in HIGH_PROFILES:
            w.ue(self.chroma_format_idc)
            if self.chroma_format_idc == 3:
                w.flag(self.separate_colour_plane)
            w.ue(self.bit_depth_luma_minus8)
            w.ue(self.bit_depth_chroma_minus8)
            w.flag(False)  # qpprime_y_zero_transform_bypass_flag
            w.flag(self.scaling_lists is not None)
            if self.scaling_lists is not None:
                for deltas in self.scaling_lists:
                    w.flag(deltas is not None)
                    for delta in deltas or []:
                        w.se(delta)
        w.ue(self.log2_max_frame_num_minus4)
        w.ue(self.poc_type)
        if self.poc_type == 0:
            w.ue(self.poc_fields[0])
        elif self.poc_type == 1:
            always, nonref, t2b, *cycle = self.poc_fields
            w.flag(bool(always))
            w.se(nonref)
            w.se(t2b)
            w.ue(len(cycle))
            for offset in cycle:
                w.se(offset)
        w.ue(self.max_num_ref_frames)
        w.flag(self.gaps)
        w.ue(self.width_mbs - 1)
        w.ue(self.height_map_units - 1)
        w.flag(self.frame_mbs_only)
        if not self.frame_mbs_only:
            w.flag(self.mb_adaptive)
        w.flag(self.direct_8x8)
        w.flag(self.crop is not None)
        for offset in self.crop or ():
            w.ue(offset)
        w.flag(self.vui is not None)
        if self.vui is not None:
            _encode_vui(w, self.vui)
        nal = b"\x67" + escape(w.rbsp())
        return (b"\0\0\0\1" if start_code else b"") + nal

    def scaling_list_count(self) -> int:
        return 12 if self.chroma_format_idc == 3 else 8

    def crop_units(self) -> tuple[int, int]:
        """CropUnitX and CropUnitY (§7.4.2.1.1): by ChromaArrayType, field pairs double."""
        fields = 2 - self.frame_mbs_only
        if self.separate_colour_plane or self.chroma_format_idc == 0:
            return 1, fields
        sub_width = 1 if self.chroma_format_idc == 3 else 2
        sub_height = 2 if self.chroma_format_idc == 1 else 1
        return sub_width, sub_height * fields

    def size(self) -> tuple[int, int]:
        """Displayed width and height (§7.4.2.1.1, the frame cropping semantics)."""
        width = self.width_mbs * 16
        height = (2 - self.frame_mbs_only) * self.height_map_units * 16
        if self.crop is None:
            return width, height
        left, right, top, bottom = self.crop
        unit_x, unit_y = self.crop_units()
        return width - unit_x * (left + right), height - unit_y * (top + bottom)

    def fps(self) -> float | None:
        if self.vui is None or self.vui.timing is None:
            return None
        ticks, scale, _fixed = self.vui.timing
        return scale / (2 * ticks) if ticks and scale else None


def _encode_vui(w: BitWriter, vui: Vui) -> None:
    w.flag(vui.aspect_ratio_idc is not None)
    if vui.aspect_ratio_idc is not None:
        w.u(8, vui.aspect_ratio_idc)
        if vui.aspect_ratio_idc == 255:
            w.u(16, 4)
            w.u(16, 3)
    w.flag(vui.overscan is not None)
    if vui.overscan is not None:
        w.flag(vui.overscan)
    w.flag(vui.video_format is not None)
    if vui.video_format is not None:
        fmt, full_range, colour = vui.video_format
        w.u(3, fmt)
        w.flag(full_range)
        w.flag(colour is not None)
        for value in colour or ():
            w.u(8, value)
    w.flag(vui.chroma_loc is not None)
    for value in vui.chroma_loc or ():
        w.ue(value)
    w.flag(vui.timing is not None)
    if vui.timing is not None:
        ticks, scale, fixed = vui.timing
        w.u(32, ticks)
        w.u(32, scale)
        w.flag(fixed)
    # The rest of the VUI (HRD, restrictions) is absent: all flags zero.
    w.flag(False)  # nal_hrd_parameters_present_flag
    w.flag(False)  # vcl_hrd_parameters_present_flag
    w.flag(False)  # pic_struct_present_flag
    w.flag(False)  # bitstream_restriction_flag


U32 = st.integers(0, 2**32 - 1)

vuis = st.builds(
    Vui,
    aspect_ratio_idc=st.one_of(st.none(), st.integers(0, 255)),
    overscan=st.one_of(st.none(), st.booleans()),
    video_format=st.one_of(
        st.none(),
        st.tuples(
            st.integers(0, 7),
            st.booleans(),
            st.one_of(st.none(), st.tuples(*[st.integers(0, 255)] * 3)),
        ),
    ),
    chroma_loc=st.one_of(st.none(), st.tuples(st.integers(0, 5), st.integers(0, 5))),
    timing=st.one_of(
        st.none(),
        st.tuples(U32, U32, st.booleans()),
        st.tuples(st.integers(1, 1001), st.sampled_from([30000, 50, 60, 48000]), st.booleans()),
    ),
)


@st.composite
def sps_params(draw: st.DrawFn) -> Sps:
    """Any SPS the standard allows (within the parser's 1024-macroblock bound)."""
    profile = draw(st.sampled_from([66, 77, 88, *HIGH_PROFILES]))
    high = profile in HIGH_PROFILES
    chroma = draw(st.integers(0, 3)) if high else 1
    sps = Sps(
        profile_idc=profile,
        constraints=draw(st.integers(0, 255)),
        level_idc=draw(st.integers(0, 255)),
        sps_id=draw(st.integers(0, 31)),
        chroma_format_idc=chroma,
        separate_colour_plane=chroma == 3 and draw(st.booleans()),
        bit_depth_luma_minus8=draw(st.integers(0, 6)) if high else 0,
        bit_depth_chroma_minus8=draw(st.integers(0, 6)) if high else 0,
        log2_max_frame_num_minus4=draw(st.integers(0, 12)),
        poc_type=draw(st.integers(0, 2)),
        max_num_ref_frames=draw(st.integers(0, 16)),
        gaps=draw(st.booleans()),
        width_mbs=draw(st.integers(1, 1024)),
        height_map_units=draw(st.integers(1, 1024)),
        frame_mbs_only=draw(st.booleans()),
        mb_adaptive=draw(st.booleans()),
        direct_8x8=draw(st.booleans()),
        vui=draw(st.one_of(st.none(), vuis)),
    )
    if high and draw(st.booleans()):
        deltas = st.lists(st.integers(-128, 127), min_size=16, max_size=16)
        sps.scaling_lists = []
        for i in range(sps.scaling_list_count()):
            size = 16 if i < 6 else 64
            present = draw(st.booleans())
            sps.scaling_lists.append(_scaling_deltas(draw(deltas), size) if present else None)
    if sps.poc_type == 0:
        sps.poc_fields = (draw(st.integers(0, 12)),)
    elif sps.poc_type == 1:
        offsets = draw(st.lists(st.integers(-(2**20), 2**20), max_size=8))
        sps.poc_fields = (
            draw(st.integers(0, 1)),
            draw(st.integers(-(2**20), 2**20)),
            draw(st.integers(-(2**20), 2**20)),
            *offsets,
        )
    if draw(st.booleans()):
        width, height = sps.size()
        unit_x, unit_y = sps.crop_units()
        x = draw(st.integers(0, (width - 1) // unit_x))
        y = draw(st.integers(0, (height - 1) // unit_y))
        left = draw(st.integers(0, x))
        top = draw(st.integers(0, y))
        sps.crop = (left, x - left, top, y - top)
    return sps


def _scaling_deltas(seed: list[int], size: int) -> list[int]:
    """delta_scale values for one list: after a delta that makes next_scale 0 the list
    repeats its last scale and carries no more deltas (§7.3.2.1.1.1)."""
    deltas: list[int] = []
    last = 8
    for i in range(size):
        delta = seed[i % len(seed)]
        deltas.append(delta)
        nxt = (last + delta + 256) % 256
        if nxt == 0:
            break
        last = nxt
    return deltas
