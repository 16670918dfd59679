package inspector

import (
	"errors"
	"fmt"
)

// CheckComplete returns an error for a JPEG whose data ends before its end-of-image
// marker: it walks the marker segments by their lengths and the entropy-
// coded scans byte by byte (inside a scan, 0xFF is followed only by a
// stuffed 0x00 or a restart marker), so a thumbnail's end marker inside the
// EXIF segment does not count. format is image.DecodeConfig's name; other
// formats pass (OpenCV refuses their truncated data itself). Every reader
// of images (inspector/opencv's decoding, dataset loading) calls it, so a
// cut-off file is unreadable everywhere.
func CheckComplete(format string, data []byte) error {
	if format != "jpeg" {
		return nil
	}
	const errCut = "data is truncated (no end-of-image marker)"
	i := 2 // after SOI
	for {
		// Markers may be preceded by fill bytes 0xFF.
		for i < len(data) && data[i] == 0xFF && i+1 < len(data) && data[i+1] == 0xFF {
			i++
		}
		if i+1 >= len(data) {
			return errors.New(errCut)
		}
		if data[i] != 0xFF {
			return fmt.Errorf("data is corrupt (no marker at byte %d)", i)
		}
		marker := data[i+1]
		i += 2
		switch {
		case marker == 0xD9: // EOI
			return nil
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // no length
			continue
		}
		if i+1 >= len(data) {
			return errors.New(errCut)
		}
		i += int(data[i])<<8 | int(data[i+1])
		if i > len(data) {
			return errors.New(errCut)
		}
		if marker != 0xDA { // SOS: an entropy-coded scan follows
			continue
		}
		for {
			if i+1 >= len(data) {
				return errors.New(errCut)
			}
			if data[i] == 0xFF && data[i+1] != 0x00 && !(data[i+1] >= 0xD0 && data[i+1] <= 0xD7) && data[i+1] != 0xFF {
				break // the next marker
			}
			i++
		}
	}
}
