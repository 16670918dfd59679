package bench

// gocv v0.32.0 has no SetNumThreads; the one-core runs need OpenCV's own
// thread pool limited too, or warpAffine would still use every core.

// #cgo pkg-config: opencv4
// #cgo CXXFLAGS: -std=c++11
// #include "threads.h"
import "C"

func setCVThreads(n int) { C.pp_set_num_threads(C.int(n)) }

func cvThreads() int { return int(C.pp_get_num_threads()) }
