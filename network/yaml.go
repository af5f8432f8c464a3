package network

import (
	"io"

	"github.com/metalkit/metalkit/internal/yamlout"
)

// PrintYAML writes networks, IPs or lists of them to w as YAML documents
// the way metal-stack's CLI prints them with -o yaml: the JSON field names,
// keys sorted, documents separated by "---".
func PrintYAML(w io.Writer, v ...any) error {
	return yamlout.Write(w, v...)
}
