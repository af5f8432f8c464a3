package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/limits"
)

// filesystemLayout is a filesystem layout as stored and answered
// (metal-api's v1.FilesystemLayoutResponse).
type filesystemLayout struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Description    string          `json:"description"`
	Filesystems    []filesystem    `json:"filesystems"`
	Disks          []disk          `json:"disks"`
	Raid           []raid          `json:"raid"`
	VolumeGroups   []volumeGroup   `json:"volumegroups"`
	LogicalVolumes []logicalVolume `json:"logicalvolumes"`
	Constraints    fslConstraints  `json:"constraints"`
}

type fslConstraints struct {
	Sizes  []string          `json:"sizes"`
	Images map[string]string `json:"images"`
}

type filesystem struct {
	Path          *string  `json:"path"`
	Device        string   `json:"device"`
	Format        string   `json:"format"`
	Label         *string  `json:"label"`
	MountOptions  []string `json:"mountoptions"`
	CreateOptions []string `json:"createoptions"`
}

type disk struct {
	Device          string          `json:"device"`
	Partitions      []diskPartition `json:"partitions"`
	WipeOnReinstall bool            `json:"wipeonreinstall"`
}

type diskPartition struct {
	Number  uint8   `json:"number"`
	Label   *string `json:"label"`
	Size    uint64  `json:"size"`
	GPTType *string `json:"gpttype"`
}

type raid struct {
	ArrayName     string   `json:"arrayname"`
	Devices       []string `json:"devices"`
	Level         string   `json:"level"`
	CreateOptions []string `json:"createoptions"`
	Spares        int      `json:"spares"`
}

type volumeGroup struct {
	Name    string   `json:"name"`
	Devices []string `json:"devices"`
	Tags    []string `json:"tags"`
}

type logicalVolume struct {
	Name        string `json:"name"`
	VolumeGroup string `json:"volumegroup"`
	Size        uint64 `json:"size"`
	LVMType     string `json:"lvmtype"`
}

// PutFilesystemLayout stores a filesystem layout, replacing one with the
// same id. layoutJSON is the layout in metal-api's JSON shape
// (v1.FilesystemLayoutCreateRequest: id, name, description, filesystems,
// disks, raid, volumegroups, logicalvolumes, constraints); unknown fields
// are refused. The API serves layouts read-only (GET /v1/filesystemlayout),
// so this is how a program provides them. One transaction.
func (c *Catalog) PutFilesystemLayout(ctx context.Context, layoutJSON []byte) error {
	var l filesystemLayout
	dec := json.NewDecoder(bytes.NewReader(layoutJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return invalid("filesystem layout: %v", err)
	}
	errs := []error{limits.ID("id", l.ID), limits.Name("name", l.Name), limits.Description("description", l.Description)}
	for i, s := range l.Constraints.Sizes {
		errs = append(errs, limits.ID(fmt.Sprintf("constraints.sizes[%d]", i), s))
	}
	errs = append(errs, limits.Labels("constraints.images", l.Constraints.Images))
	if err := joinInvalid(errs); err != nil {
		return fmt.Errorf("filesystem layout: %w", err)
	}
	return c.update(ctx, "filesystemlayout.put", "filesystemlayout/"+l.ID, &l, func(tx backends.Tx) error {
		return putJSON(tx, bucketFilesystemLayout, l.ID, &l)
	})
}

func (s *Server) listFilesystemLayouts(w http.ResponseWriter, r *http.Request) {
	listAll(s, w, r, layouts)
}
