package api

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/machine"
	"github.com/metalkit/metalkit/network"
)

// metal-api's bounds on a partition's servers.
const (
	maxDNSServers = 3
	maxNTPServers = 5
)

// partition is a partition as stored and answered (metal-api's
// v1.PartitionResponse).
type partition struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	Description        string            `json:"description"`
	MgmtServiceAddress string            `json:"mgmtserviceaddress"`
	Labels             map[string]string `json:"labels"`
	DNSServers         []dnsServer       `json:"dns_servers,omitempty"`
	NTPServers         []ntpServer       `json:"ntp_servers,omitempty"`
	BootConfig         BootConfig        `json:"bootconfig"`
	Created            time.Time         `json:"created"`
	Changed            time.Time         `json:"changed"`
}

// BootConfig is what the machines of a partition boot over PXE before
// they are installed: metal-hammer's kernel, its initrd and the kernel
// command line (metal-api's v1.PartitionBootConfiguration).
type BootConfig struct {
	// ImageURL is the URL of the initrd that holds metal-hammer.
	ImageURL string `json:"imageurl"`
	// KernelURL is the URL of the kernel.
	KernelURL string `json:"kernelurl"`
	// CommandLine is the kernel command line.
	CommandLine string `json:"commandline"`
}

type dnsServer struct {
	IP string `json:"ip"`
}

type ntpServer struct {
	Address string `json:"address"`
}

// partitionRequest is the body of a create or update: metal-api's
// v1.PartitionCreateRequest and v1.PartitionUpdateRequest, which have the
// same fields. A nil field was not given.
type partitionRequest struct {
	ID                 *string           `json:"id"`
	Name               *string           `json:"name"`
	Description        *string           `json:"description"`
	MgmtServiceAddress *string           `json:"mgmtserviceaddress"`
	Labels             map[string]string `json:"labels"`
	DNSServers         []*dnsServerIn    `json:"dns_servers"`
	NTPServers         []*ntpServerIn    `json:"ntp_servers"`
	BootConfig         *bootConfigIn     `json:"bootconfig"`
}

type bootConfigIn struct {
	ImageURL    *string `json:"imageurl"`
	KernelURL   *string `json:"kernelurl"`
	CommandLine *string `json:"commandline"`
}

type dnsServerIn struct {
	IP *string `json:"ip"`
}

type ntpServerIn struct {
	Address *string `json:"address"`
}

// apply copies the given fields of req onto p; problems with the server
// lists are returned, each naming the entry.
func (req *partitionRequest) apply(p *partition) []error {
	var errs []error
	if req.Name != nil {
		p.Name = *req.Name
	}
	if req.Description != nil {
		p.Description = *req.Description
	}
	if req.MgmtServiceAddress != nil {
		p.MgmtServiceAddress = *req.MgmtServiceAddress
	}
	if req.Labels != nil {
		p.Labels = req.Labels
	}
	if b := req.BootConfig; b != nil {
		if b.ImageURL != nil {
			p.BootConfig.ImageURL = *b.ImageURL
		}
		if b.KernelURL != nil {
			p.BootConfig.KernelURL = *b.KernelURL
		}
		if b.CommandLine != nil {
			p.BootConfig.CommandLine = *b.CommandLine
		}
	}
	if req.DNSServers != nil {
		p.DNSServers = []dnsServer{}
		for i, s := range req.DNSServers {
			if s == nil || s.IP == nil {
				errs = append(errs, invalid("dns_servers[%d].ip is required", i))
				continue
			}
			p.DNSServers = append(p.DNSServers, dnsServer{IP: *s.IP})
		}
	}
	if req.NTPServers != nil {
		ns, nerrs := parseNTPServers(req.NTPServers)
		p.NTPServers = mapAll(ns, func(n machine.NTPServer) ntpServer { return ntpServer(n) })
		errs = append(errs, nerrs...)
	}
	return errs
}

// validate checks every field of p and returns every problem (with nils
// for the checks that pass, which joinInvalid skips).
func (p *partition) validate() []error {
	errs := []error{
		limits.ID("id", p.ID),
		limits.Name("name", p.Name),
		limits.Description("description", p.Description),
		limits.Name("mgmtserviceaddress", p.MgmtServiceAddress),
		limits.Labels("labels", p.Labels),
	}
	if p.BootConfig.ImageURL != "" {
		errs = append(errs, checkHTTPURL("bootconfig.imageurl", p.BootConfig.ImageURL))
	}
	if p.BootConfig.KernelURL != "" {
		errs = append(errs, checkHTTPURL("bootconfig.kernelurl", p.BootConfig.KernelURL))
	}
	errs = append(errs, limits.Description("bootconfig.commandline", p.BootConfig.CommandLine))
	if len(p.DNSServers) > maxDNSServers {
		errs = append(errs, invalid("dns_servers has %d entries; at most %d are allowed", len(p.DNSServers), maxDNSServers))
	}
	for i, s := range p.DNSServers {
		_, err := parseAddr(fmt.Sprintf("dns_servers[%d].ip", i), s.IP)
		errs = append(errs, err)
	}
	if len(p.NTPServers) > maxNTPServers {
		errs = append(errs, invalid("ntp_servers has %d entries; at most %d are allowed", len(p.NTPServers), maxNTPServers))
	}
	for i, s := range p.NTPServers {
		if _, err := netip.ParseAddr(s.Address); err != nil && !isDNSName(s.Address) {
			errs = append(errs, invalid("ntp_servers[%d].address %s is neither an IP address nor a DNS name", i, quote(s.Address)))
		}
	}
	return errs
}

// checkURLs runs the server's URL check on the boot URLs a request gives.
func (s *Server) checkPartitionURLs(ctx context.Context, req *partitionRequest) []error {
	var errs []error
	if b := req.BootConfig; b != nil {
		for _, u := range []struct {
			field string
			url   *string
		}{{"bootconfig.imageurl", b.ImageURL}, {"bootconfig.kernelurl", b.KernelURL}} {
			if u.url == nil || checkHTTPURL(u.field, *u.url) != nil {
				continue
			}
			if err := s.checkURL.run(ctx, u.field, *u.url); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

func getPartitionTx(tx backends.Tx, id string) (*partition, error) { return partitions.get(tx, id) }

// partitionOrNilTx returns partition id, or nil when the catalog does not
// have it.
func partitionOrNilTx(tx backends.Tx, id string) (*partition, error) {
	p, err := getPartitionTx(tx, id)
	if absent(err) {
		return nil, nil
	}
	return p, err
}

// PartitionBootConfig returns the boot configuration of partition id, an
// error matching errdefs.ErrNotFound when there is no such partition, and
// errdefs.ErrInvalidArgument for an id that no partition can have. One read.
func (c *Catalog) PartitionBootConfig(ctx context.Context, id string) (BootConfig, error) {
	if err := limits.ID("partition id", id); err != nil {
		return BootConfig{}, err
	}
	p, err := viewValue(ctx, c, func(tx backends.Tx) (*partition, error) { return getPartitionTx(tx, id) })
	if err != nil {
		return BootConfig{}, err
	}
	return p.BootConfig, nil
}

// createPartition stores a new partition. One transaction.
func (c *Catalog) createPartition(ctx context.Context, req *partitionRequest, urlErrs []error) (*partition, error) {
	p := &partition{ID: deref(req.ID), Labels: map[string]string{}}
	errs := append(req.apply(p), p.validate()...)
	if err := joinInvalid(append(errs, urlErrs...)); err != nil {
		return nil, err
	}
	return partitions.create(ctx, c, p.ID, req, p, func(p *partition) {
		p.Created = c.now()
		p.Changed = p.Created
	})
}

// updatePartition changes the given fields of a partition. One
// transaction.
func (c *Catalog) updatePartition(ctx context.Context, req *partitionRequest, urlErrs []error) (*partition, error) {
	return partitions.update(ctx, c, deref(req.ID), req, func(p *partition) error {
		errs := append(req.apply(p), p.validate()...)
		p.Changed = c.now()
		return joinInvalid(append(errs, urlErrs...))
	})
}

// deletePartition removes a partition that no network refers to. One
// transaction.
func (c *Catalog) deletePartition(ctx context.Context, id string) (*partition, error) {
	return partitions.delete(ctx, c, id, func(tx backends.Tx) error {
		nws, err := network.ListTx(tx, network.Filter{PartitionID: id})
		if err != nil {
			return err
		}
		if len(nws) > 0 {
			return conflict("partition %s still has %d networks (%s); delete them first", quote(id), len(nws), networkIDs(nws))
		}
		return nil
	})
}

// networkIDs lists up to five network ids for a message.
func networkIDs(nws []*network.Network) string {
	return idList(mapAll(nws, func(n *network.Network) string { return n.ID }))
}

// idList lists up to five ids for a message, and how many more there are.
func idList(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], ", ") + fmt.Sprintf(" and %d more", len(ids)-5)
	}
	return strings.Join(ids, ", ")
}

func (s *Server) listPartitions(w http.ResponseWriter, r *http.Request) { listAll(s, w, r, partitions) }

func (s *Server) getPartition(w http.ResponseWriter, r *http.Request) { getOne(s, w, r, partitions) }

func (s *Server) createPartition(w http.ResponseWriter, r *http.Request) {
	saved(s, w, r, http.StatusCreated, withChecks(s.checkPartitionURLs, s.cat.createPartition))
}

func (s *Server) updatePartition(w http.ResponseWriter, r *http.Request) {
	saved(s, w, r, http.StatusOK, withChecks(s.checkPartitionURLs, s.cat.updatePartition))
}

func (s *Server) deletePartition(w http.ResponseWriter, r *http.Request) {
	p, err := s.cat.deletePartition(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, p, err)
}
