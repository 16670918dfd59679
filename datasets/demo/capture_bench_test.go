package demo

import "testing"

// BenchmarkTurntableSession is the capture goal: a simulated turntable
// session of 12 angles for one demo part (render, gates, atomic writes,
// manifest, contact sheet, archive). docs/capture.md holds the figure;
// `make bench-capture` runs it.
func BenchmarkTurntableSession(b *testing.B) {
	for range b.N {
		s := captureSession(b, b.TempDir(), "hex_bolt", 0, 12)
		if len(s.Frames) != 12 || len(s.Rejected) != 0 {
			b.Fatalf("%d frames, %d rejected", len(s.Frames), len(s.Rejected))
		}
	}
}
