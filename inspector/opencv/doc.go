// Package opencv is the inspector's adapter to OpenCV (through gocv): the
// shared preprocessing from a frame to a model's input tensor, image decoding
// with size limits, JPEG encoding, camera and file sources, and drawing the
// live overlay. It is the only package of the inspector that holds Mats; every
// Mat it creates is closed by its owner (checked with -tags matprofile).
package opencv
