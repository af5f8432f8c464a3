package yamlout_test

import (
	"os"

	"github.com/metalkit/metalkit/internal/yamlout"
)

func ExampleWrite() {
	type usage struct {
		Available uint64 `json:"available_ips"`
		Used      uint64 `json:"used_ips"`
	}
	v := struct {
		Name     string            `json:"name"`
		Prefixes []string          `json:"prefixes"`
		Usage    usage             `json:"usage"`
		Labels   map[string]string `json:"labels"`
	}{"super", []string{"10.0.0.0/16"}, usage{2147483647, 18446744073709551615}, map[string]string{"b": "2", "a": "1"}}
	_ = yamlout.Write(os.Stdout, v)
	// Output:
	// labels:
	//   a: "1"
	//   b: "2"
	// name: super
	// prefixes:
	// - 10.0.0.0/16
	// usage:
	//   available_ips: 2147483647
	//   used_ips: 18446744073709551615
}
