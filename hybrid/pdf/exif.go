package pdf

import (
	"bytes"
	"encoding/binary"
)

// jpegOrientation returns the Exif Orientation (TIFF tag 0x0112, values
// 1–8; Exif 2.32 §4.6.4, CIPA DC-008) of a JPEG: the first APP1 segment
// starting "Exif\0\0" holds a TIFF header and IFD0, whose Orientation
// entry (type SHORT, count 1) says how the stored pixels must be turned or
// mirrored to stand upright. Anything missing, malformed or out of range
// is 1 (as stored): a damaged Exif block must not turn a photo.
func jpegOrientation(data []byte) int {
	for i := 2; i+4 <= len(data); { // after SOI
		if data[i] != 0xFF {
			return 1
		}
		marker := data[i+1]
		if marker == 0xFF {
			i++ // fill byte (T.81 §B.1.1.2)
			continue
		}
		if marker == 0xDA || marker == 0xD9 || marker == 0x01 || marker >= 0xD0 && marker <= 0xD7 {
			return 1 // the scan starts: no Exif comes after it
		}
		length := int(data[i+2])<<8 | int(data[i+3])
		if length < 2 || i+2+length > len(data) {
			return 1
		}
		seg := data[i+4 : i+2+length]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		i += 2 + length
	}
	return 1
}

// tiffOrientation reads the Orientation entry of IFD0 of a TIFF header
// (TIFF 6.0 §2: byte order "II" or "MM", 42, offset of IFD0; 12-byte
// entries of tag, type, count and value).
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := uint64(bo.Uint32(t[4:]))
	if off+2 > uint64(len(t)) {
		return 1
	}
	n := uint64(bo.Uint16(t[off:]))
	for k := range n {
		e := off + 2 + 12*k
		if e+12 > uint64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) != 1 { // SHORT, one value
			return 1
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient maps a picture drawn as stored, w × h points with its origin at
// the bottom-left corner (PDF coordinates, y up: the first pixel row is at
// the top), onto the upright picture Exif orientation o describes, also
// with its origin at the bottom-left. For o of 5–8 the upright picture is
// h × w.
func orient(o int, w, h float64) affine {
	switch o {
	case 2: // mirrored left to right
		return affine{-1, 0, 0, 1, w, 0}
	case 3: // turned half round
		return affine{-1, 0, 0, -1, w, h}
	case 4: // mirrored top to bottom
		return affine{1, 0, 0, -1, 0, h}
	case 5: // first row is the left side, first column the top
		return affine{0, -1, -1, 0, h, w}
	case 6: // first row is the right side: turn a quarter clockwise
		return affine{0, -1, 1, 0, 0, w}
	case 7: // first row is the right side, first column the bottom
		return affine{0, 1, 1, 0, 0, 0}
	case 8: // first row is the left side: turn a quarter counter-clockwise
		return affine{0, 1, -1, 0, h, 0}
	}
	return affine{1, 0, 0, 1, 0, 0}
}
