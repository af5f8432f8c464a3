package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/metal-stack/metal-go/api/client/image"
	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	nwclient "github.com/metal-stack/metal-go/api/client/network"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/client/size"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
)

// The partition of the announcement and what the operator sets up in it.
const (
	partitionID = "mini-lab"
	superID     = "tenant-super-network-mini-lab"
	underlayID  = "underlay-mini-lab"
	internetID  = "internet-mini-lab"
	sizeID      = "v1-small-x86"
	imageID     = "ubuntu-24.04"
	// hostname is machine 1's hostname in its allocation.
	hostname = "test"
)

// The boot configuration of the partition: what metal-hammer boots.
const (
	kernelURL = "https://github.com/metal-stack/kernel/releases/latest/download/metal-kernel"
	initrdURL = "https://github.com/metal-stack/metal-hammer/releases/latest/download/metal-hammer-initrd.img.lz4"
	cmdline   = "console=ttyS0,115200n8 ip=dhcp carrier_timeout=10"
	imageURL  = "https://images.metal-stack.io/metal-os/stable/ubuntu/24.04/img.tar.lz4"
)

// play runs the whole story on a new lab and prints its output to out.
func play(ctx context.Context, c *config, out, stderr io.Writer) (err error) {
	l, err := startLab(c, stderr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.close()) }()
	if err := l.checkEmpty(ctx, c.store); err != nil {
		return err
	}
	p := &printer{w: out}

	// The operator.
	projectID, err := l.setupCatalog(ctx)
	if err != nil {
		return err
	}
	super, err := l.createNetworks(ctx)
	if err != nil {
		return err
	}
	p.yaml("super network "+superID, super)

	// metal-core on the two leaves.
	for _, leaf := range leaves {
		if err := l.registerSwitch(ctx, leaf); err != nil {
			return err
		}
	}

	// metal-hammer on the two machines, up to waiting for an allocation.
	ms := newMachines(l.newID)
	for _, m := range ms {
		if err := l.bootToWaiting(ctx, m); err != nil {
			return err
		}
	}
	defer func() {
		for _, m := range ms {
			m.stopWaiting()
		}
	}()

	// The project's user.
	child, err := l.allocateChild(ctx, projectID)
	if err != nil {
		return err
	}
	p.yaml("child network of project "+projectID, child)
	v4, err := l.allocateIP(ctx, *child.ID, projectID, "")
	if err != nil {
		return err
	}
	p.yaml("IP with no address family", v4)
	v6, err := l.allocateIP(ctx, *child.ID, projectID, string(network.IPv6))
	if err != nil {
		return err
	}
	p.yaml("IP with address family IPv6", v6)

	m1 := ms[0]
	if err := l.allocate(ctx, m1, projectID, *child.ID); err != nil {
		return err
	}
	if err := l.install(ctx, m1); err != nil {
		return err
	}

	// metal-core's next cycle reports the sessions of the installed
	// machine's ports.
	hostnames := map[string]string{m1.id: hostname}
	for _, leaf := range leaves {
		if err := l.reportBGP(ctx, leaf, hostnames); err != nil {
			return err
		}
	}

	// metalctl switch connected-machines -o wide.
	if p.err == nil {
		p.header("switch connected-machines -o wide")
		p.err = l.connectedMachines(ctx, out)
	}
	if p.err != nil {
		return p.err
	}

	// Machine 2 stops waiting (its metal-hammer goes away), the servers
	// stop, and the store they leave behind must be consistent.
	for _, m := range ms {
		m.stopWaiting()
	}
	if err := l.stopServers(); err != nil {
		return err
	}
	return l.checkStore(ctx)
}

// printer writes the lab's output blocks, each after a "# title" line,
// and keeps the first write error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) header(title string) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, "# %s\n", title)
	}
}

// yaml prints v as metalctl's -o yaml does.
func (p *printer) yaml(title string, v any) {
	p.header(title)
	if p.err == nil {
		p.err = network.PrintYAML(p.w, v)
	}
}

// setupCatalog creates, as the operator, the partition with its boot
// configuration, the project, the image and the size v1-small-x86
// (metalctl size create): 1 to 4 cores, 1 to 4 GiB of memory, 1 to 100 GiB
// of storage. It returns the project's id.
func (l *lab) setupCatalog(ctx context.Context) (string, error) {
	_, err := l.admin.Partition().CreatePartition(partition.NewCreatePartitionParamsWithContext(ctx).WithBody(&models.V1PartitionCreateRequest{
		ID: ptr(partitionID), Name: "mini-lab", Description: "the partition of the mini-lab",
		Bootconfig: &models.V1PartitionBootConfiguration{Kernelurl: kernelURL, Imageurl: initrdURL, Commandline: cmdline},
	}), nil)
	if err != nil {
		return "", fmt.Errorf("creating partition %s: %w", partitionID, err)
	}
	projectID := l.newID()
	_, err = l.admin.Project().CreateProject(project.NewCreateProjectParamsWithContext(ctx).WithBody(&models.V1ProjectCreateRequest{
		Meta: &models.V1Meta{ID: projectID}, Name: "test-project", Description: "the project of the mini-lab", TenantID: "test-tenant",
	}), nil)
	if err != nil {
		return "", fmt.Errorf("creating the project: %w", err)
	}
	_, err = l.admin.Image().CreateImage(image.NewCreateImageParamsWithContext(ctx).WithBody(&models.V1ImageCreateRequest{
		ID: ptr(imageID), Name: "Ubuntu 24.04", URL: ptr(imageURL), Features: []string{"machine"},
	}), nil)
	if err != nil {
		return "", fmt.Errorf("creating image %s: %w", imageID, err)
	}
	_, err = l.admin.Size().CreateSize(size.NewCreateSizeParamsWithContext(ctx).WithBody(&models.V1SizeCreateRequest{
		ID: ptr(sizeID), Name: sizeID, Description: "the machines of the mini-lab",
		Constraints: []*models.V1SizeConstraint{
			{Type: ptr(string(machine.CoreConstraint)), Min: 1, Max: 4},
			{Type: ptr(string(machine.MemoryConstraint)), Min: 1 << 30, Max: 4 << 30},
			{Type: ptr(string(machine.StorageConstraint)), Min: 1 << 30, Max: 100 << 30},
		},
	}), nil)
	if err != nil {
		return "", fmt.Errorf("creating size %s: %w", sizeID, err)
	}
	l.log.Info("lab: partition, project, image and size created", "partition", partitionID, "project", projectID)
	return projectID, nil
}

// createNetworks creates, as the operator, the partition's networks: the
// dual-stack super network of the project networks, the underlay of the
// switches and the internet. It returns the super network as created.
func (l *lab) createNetworks(ctx context.Context) (*models.V1NetworkResponse, error) {
	var super *models.V1NetworkResponse
	for _, req := range []*models.V1NetworkCreateRequest{
		{
			ID: ptr(superID), Name: "Project Super Network", Description: "Super network of all project networks",
			Partitionid: partitionID, Prefixes: []string{"10.0.0.0/16", "2001:db8:0:10::/64"},
			Defaultchildprefixlength: map[string]int64{string(network.IPv4): 22, string(network.IPv6): 96},
			Privatesuper:             ptr(true), Nat: ptr(false), Underlay: ptr(false),
		},
		{
			ID: ptr(underlayID), Name: "Underlay Network", Description: "the underlay of the switches",
			Partitionid: partitionID, Prefixes: []string{"10.1.0.0/24"},
			Privatesuper: ptr(false), Nat: ptr(false), Underlay: ptr(true),
		},
		{
			ID: ptr(internetID), Name: "Internet Network", Description: "the internet",
			Prefixes: []string{"185.1.2.0/24", "2001:db8:0:113::/64"}, Destinationprefixes: []string{"0.0.0.0/0", "::/0"},
			Privatesuper: ptr(false), Nat: ptr(true), Underlay: ptr(false), Vrf: 104009,
			Labels: map[string]string{"network.metal-stack.io/default": ""},
		},
	} {
		created, err := l.admin.Network().CreateNetwork(nwclient.NewCreateNetworkParamsWithContext(ctx).WithBody(req), nil)
		if err != nil {
			return nil, fmt.Errorf("creating network %s: %w", *req.ID, err)
		}
		if *req.ID == superID {
			super = created.Payload
		}
	}
	l.log.Info("lab: networks created", "super", superID, "underlay", underlayID, "internet", internetID)
	return super, nil
}

// allocateChild allocates, as the project's user, a child network of the
// super network with the default lengths.
func (l *lab) allocateChild(ctx context.Context, projectID string) (*models.V1NetworkResponse, error) {
	resp, err := l.edit.Network().AllocateNetwork(nwclient.NewAllocateNetworkParamsWithContext(ctx).WithBody(&models.V1NetworkAllocateRequest{
		Name: "test-network", Description: "the network of the test machine", Partitionid: partitionID, Projectid: projectID,
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("allocating a child network: %w", err)
	}
	return resp.Payload, nil
}

// allocateIP allocates, as the project's user, an IP of network of the
// family (empty: the server's choice, IPv4 on a dual-stack network).
func (l *lab) allocateIP(ctx context.Context, networkID, projectID, family string) (*models.V1IPResponse, error) {
	resp, err := l.edit.IP().AllocateIP(ipclient.NewAllocateIPParamsWithContext(ctx).WithBody(&models.V1IPAllocateRequest{
		Networkid: ptr(networkID), Projectid: ptr(projectID), Addressfamily: family,
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("allocating an IP (family %q) of network %s: %w", family, networkID, err)
	}
	return resp.Payload, nil
}

// checkStore runs the library's consistency checker over the whole store
// and fails on any finding.
func (l *lab) checkStore(ctx context.Context) error {
	rep, err := l.kit.Check(ctx, nil)
	if err != nil {
		return fmt.Errorf("checking the store: %w", err)
	}
	if len(rep.Findings) == 0 {
		l.log.Info("lab: the store is consistent")
		return nil
	}
	lines := make([]string, len(rep.Findings))
	for i, f := range rep.Findings {
		lines[i] = f.String()
	}
	return fmt.Errorf("the store is inconsistent after the lab:\n%s", strings.Join(lines, "\n"))
}

func ptr[T any](v T) *T { return &v }

// deref returns *p, or the zero value for nil: what metal-go's models
// leave out.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
