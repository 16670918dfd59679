// Package inspector holds Prüfplatz's domain: the frames a camera delivers,
// the input spec a model expects, predictions, verdicts and human reviews,
// and the small interfaces (Classifier, VerdictStore, Station) that adapters
// implement. It builds and tests without cgo; gocv, onnxruntime_go and bbolt
// live in the adapter packages beneath it (opencv, onnx, bolt).
//
// Data flows one way: source → frame → preprocess → classify → verdict →
// store → UI.
package inspector
