// Package stationui is Prüfplatz's web application: the operator page (live
// view, one big verdict, one key to confirm or override), the sales page
// (match a phone photo to catalogue parts), the engineer page (model
// versions, verdict history, export, backup) and the JSON API behind them,
// including server-sent events, an MJPEG stream, Prometheus metrics and an
// OpenAPI document.
//
// The package consumes inspector.Station and inspector.VerdictStore through
// interfaces, so it is tested with fakes; cmd/pruefplatz wires in the real
// station and the bbolt store. Pages are plain HTML, CSS and a little
// vanilla JavaScript embedded in the binary: no build step, no CDN, works
// offline.
package stationui
