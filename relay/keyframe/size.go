package keyframe

// maxSide is the largest width or height Size reports; anything larger is
// taken for a corrupt header rather than a picture.
const maxSide = 16384

// Size returns the coded picture size carried by the RTP payload of a
// keyframe's first packet: from the sequence parameter set for H.264 (the
// SPS as a single NAL unit, inside a STAP-A, or complete in the first
// fragment of an FU-A) and from the keyframe header for VP8. ok is false when
// the payload holds no such header, when it is cut short or malformed, when
// a side is outside 1..16384, and for every other codec. Size does not
// allocate.
func Size(codec Codec, payload []byte) (width, height int, ok bool) {
	switch codec {
	case H264:
		return h264Size(payload)
	case VP8:
		return vp8Size(payload)
	}
	return 0, 0, false
}

// h264Size finds the SPS in an RFC 6184 payload and parses it.
func h264Size(p []byte) (int, int, bool) {
	if len(p) < 2 {
		return 0, 0, false
	}
	const (
		nalSPS  = 7
		nalSTAP = 24
		nalFUA  = 28
	)
	switch p[0] & 0x1f {
	case nalSPS:
		return parseSPS(p[1:])
	case nalSTAP:
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				return 0, 0, false
			}
			if p[i]&0x1f == nalSPS && size > 1 {
				return parseSPS(p[i+1 : i+size])
			}
			i += size
		}
	case nalFUA:
		// The first fragment (S=1) of an SPS: parse what it holds; an SPS
		// cut before its cropping fields runs out of bits and fails.
		if p[1]&0x80 != 0 && p[1]&0x1f == nalSPS {
			return parseSPS(p[2:])
		}
	}
	return 0, 0, false
}

// highProfile reports whether an SPS of profile_idc carries the chroma
// format, bit depths and scaling matrices (H.264 7.3.2.1.1).
func highProfile(profile uint8) bool {
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// knownProfile reports whether profile_idc is one H.264 defines (Annex A, G,
// H, I); the syntax of any other is unknown, so its size is not guessed.
func knownProfile(profile uint8) bool {
	switch profile {
	case 66, 77, 88:
		return true
	}
	return highProfile(profile)
}

// parseSPS reads the picture size from an SPS body (after the NAL header,
// emulation-prevention bytes still in) as H.264 7.3.2.1.1 and 7.4.2.1.1 lay
// it out, refusing an unknown profile and any field outside its range.
func parseSPS(b []byte) (int, int, bool) {
	r := bitReader{b: b}
	profile := uint8(r.bits(8))
	if r.bad || !knownProfile(profile) {
		return 0, 0, false
	}
	r.bits(16)  // constraint_set flags, reserved_zero_2bits, level_idc
	r.ueMax(31) // seq_parameter_set_id
	chroma := uint64(1)
	separate := false
	if highProfile(profile) {
		chroma = r.ueMax(3)
		if chroma == 3 {
			separate = r.flag()
		}
		r.ueMax(6)    // bit_depth_luma_minus8
		r.ueMax(6)    // bit_depth_chroma_minus8
		r.flag()      // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := range lists {
				if !r.flag() {
					continue
				}
				n := 16
				if i >= 6 {
					n = 64
				}
				r.skipScalingList(n)
			}
		}
	}
	r.ueMax(12)         // log2_max_frame_num_minus4
	switch r.ueMax(2) { // pic_order_cnt_type
	case 0:
		r.ueMax(12) // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.flag() // delta_pic_order_always_zero_flag
		r.se()   // offset_for_non_ref_pic
		r.se()   // offset_for_top_to_bottom_field
		n := r.ueMax(255)
		for i := uint64(0); i < n && !r.bad; i++ {
			r.se() // offset_for_ref_frame[i]
		}
	}
	r.ueMax(16) // max_num_ref_frames
	r.flag()    // gaps_in_frame_num_value_allowed_flag
	widthMBs := r.ueMax(maxSide/16-1) + 1
	heightUnits := r.ueMax(maxSide/16-1) + 1
	frameMBsOnly := r.flag()
	if !frameMBsOnly {
		r.flag() // mb_adaptive_frame_field_flag
	}
	r.flag() // direct_8x8_inference_flag
	var left, right, top, bottom uint64
	if r.flag() { // frame_cropping_flag
		left, right = r.ueMax(maxSide), r.ueMax(maxSide)
		top, bottom = r.ueMax(maxSide), r.ueMax(maxSide)
	}
	if r.bad {
		return 0, 0, false
	}

	fieldFactor := uint64(1) // 2 - frame_mbs_only_flag
	if !frameMBsOnly {
		fieldFactor = 2
	}
	// Crop units (7-19 to 7-22): luma samples when ChromaArrayType is 0,
	// else chroma samples (SubWidthC x SubHeightC).
	unitX, unitY := uint64(1), fieldFactor
	if !separate && chroma != 0 {
		if chroma != 3 {
			unitX = 2
		}
		if chroma == 1 {
			unitY *= 2
		}
	}
	w, h := widthMBs*16, fieldFactor*heightUnits*16
	cropX, cropY := unitX*(left+right), unitY*(top+bottom)
	if w > maxSide || h > maxSide || cropX >= w || cropY >= h {
		return 0, 0, false
	}
	return int(w - cropX), int(h - cropY), true
}

// bitReader reads an RBSP bit by bit from NAL unit bytes, dropping each
// emulation-prevention byte (the 03 of 00 00 03) as it goes, so no unescaped
// copy is needed. Reading past the end sets bad and returns zeros; so does a
// value out of range, so a parser can read a run of fields and check once.
type bitReader struct {
	b     []byte
	pos   int  // next byte of b
	cur   byte // byte being read
	left  uint // bits of cur not yet read
	zeros int  // zero bytes just before pos
	bad   bool
}

func (r *bitReader) bit() uint64 {
	if r.left == 0 {
		if r.zeros >= 2 && r.pos < len(r.b) && r.b[r.pos] == 3 {
			r.pos++
			r.zeros = 0
		}
		if r.pos >= len(r.b) {
			r.bad = true
			return 0
		}
		r.cur = r.b[r.pos]
		r.pos++
		if r.cur == 0 {
			r.zeros++
		} else {
			r.zeros = 0
		}
		r.left = 8
	}
	r.left--
	return uint64(r.cur>>r.left) & 1
}

// bits reads n (at most 32) bits, most significant first.
func (r *bitReader) bits(n int) uint64 {
	var v uint64
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *bitReader) flag() bool { return r.bit() == 1 }

// ue reads an unsigned exp-Golomb code, ue(v). A code with more than 31
// leading zeros (a value past 2^32-2) marks the reader bad.
func (r *bitReader) ue() uint64 {
	zeros := 0
	for r.bit() == 0 {
		if r.bad || zeros == 31 {
			r.bad = true
			return 0
		}
		zeros++
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

// ueMax reads ue(v) and marks the reader bad if the value exceeds limit.
func (r *bitReader) ueMax(limit uint64) uint64 {
	v := r.ue()
	if v > limit {
		r.bad = true
		return 0
	}
	return v
}

// se reads a signed exp-Golomb code, se(v), mapping 1, 2, 3, 4 to 1, -1, 2, -2.
func (r *bitReader) se() int64 {
	v := r.ue()
	if v&1 == 1 {
		return int64(v+1) / 2
	}
	return -int64(v / 2)
}

// skipScalingList reads past scaling_list() of n entries (H.264 7.3.2.1.1.1).
func (r *bitReader) skipScalingList(n int) {
	last, next := int64(8), int64(8)
	for j := 0; j < n && !r.bad; j++ {
		if next != 0 {
			delta := r.se()
			if delta < -128 || delta > 127 {
				r.bad = true
				return
			}
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}

// vp8Size reads the frame size from the keyframe header (RFC 6386 9.1) that
// follows the RFC 7741 payload descriptor of a frame's first packet.
func vp8Size(p []byte) (int, int, bool) {
	if len(p) < 1 {
		return 0, 0, false
	}
	start := p[0]&0x10 != 0
	pid := p[0] & 0x07
	if !start || pid != 0 {
		return 0, 0, false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: extension byte
		if len(p) < 2 {
			return 0, 0, false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: PictureID, 15 bits when M is set
			if len(p) <= i {
				return 0, 0, false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T and/or K share one byte
			i++
		}
	}
	if len(p) < i+10 {
		return 0, 0, false
	}
	f := p[i:]
	if f[0]&0x01 != 0 { // P: an interframe has no size
		return 0, 0, false
	}
	if f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	w := int(f[6]) | int(f[7]&0x3f)<<8 // top two bits are the scaling mode
	h := int(f[8]) | int(f[9]&0x3f)<<8
	if w == 0 || h == 0 {
		return 0, 0, false
	}
	return w, h, true
}
