package network_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit/backends/backendtest"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/errdefs"
	"github.com/metalkit/metalkit/limits"
	"github.com/metalkit/metalkit/network"
)

// TestInputLimits: every limit of package limits, applied by every
// operation that takes the input, refuses with ErrInvalidArgument naming
// the field, quotes at most a bounded prefix of the value, and changes
// nothing.
func TestInputLimits(t *testing.T) {
	store := memstore.New()
	svc := network.New(store, nil)
	_, err := svc.Create(ctx, network.CreateRequest{ID: "super", PartitionID: "fra", PrivateSuper: true,
		Prefixes: pfx("10.0.0.0/16"), DefaultChildPrefixLength: network.ChildLengths{network.IPv4: 22}})
	require.NoError(t, err)
	child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p"})
	require.NoError(t, err)
	ip, err := svc.AllocateIP(ctx, network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"})
	require.NoError(t, err)

	huge := strings.Repeat("x", 100_000)
	long := func(n int) string { return strings.Repeat("a", n+1) }
	manyLabels := map[string]string{}
	for i := range limits.MaxLabels + 1 {
		manyLabels[fmt.Sprint("k", i)] = "v"
	}
	ext := func(mod func(r *network.CreateRequest)) func() error {
		return func() error {
			r := network.CreateRequest{ID: "ext", Prefixes: pfx("192.0.2.0/24")}
			mod(&r)
			_, err := svc.Create(ctx, r)
			return err
		}
	}
	alloc := func(mod func(r *network.AllocateRequest)) func() error {
		return func() error {
			r := network.AllocateRequest{PartitionID: "fra", ProjectID: "p"}
			mod(&r)
			_, err := svc.AllocateChild(ctx, r)
			return err
		}
	}
	allocIP := func(mod func(r *network.AllocateIPRequest)) func() error {
		return func() error {
			r := network.AllocateIPRequest{NetworkID: child.ID, ProjectID: "p"}
			mod(&r)
			_, err := svc.AllocateIP(ctx, r)
			return err
		}
	}
	cases := []struct {
		name  string
		field string
		op    func() error
	}{
		{"id with NUL", "id", ext(func(r *network.CreateRequest) { r.ID = "a\x00b" })},
		{"id invalid UTF-8", "id", ext(func(r *network.CreateRequest) { r.ID = "a\xffb" })},
		{"id with newline", "id", ext(func(r *network.CreateRequest) { r.ID = "a\nb" })},
		{"id too long", "id", ext(func(r *network.CreateRequest) { r.ID = long(limits.MaxID) })},
		{"id huge", "id", ext(func(r *network.CreateRequest) { r.ID = huge })},
		{"partitionid with NUL", "partitionid", ext(func(r *network.CreateRequest) { r.PartitionID = "\x00" })},
		{"projectid too long", "projectid", ext(func(r *network.CreateRequest) { r.ProjectID = long(limits.MaxID) })},
		{"name too long", "name", ext(func(r *network.CreateRequest) { r.Name = long(limits.MaxName) })},
		{"description too long", "description", ext(func(r *network.CreateRequest) { r.Description = long(limits.MaxDescription) })},
		{"too many labels", "labels", ext(func(r *network.CreateRequest) { r.Labels = manyLabels })},
		{"empty label key", "labels", ext(func(r *network.CreateRequest) { r.Labels = map[string]string{"": "v"} })},
		{"label value too long", "labels", ext(func(r *network.CreateRequest) { r.Labels = map[string]string{"k": long(limits.MaxLabelValue)} })},
		{"too many prefixes", "prefixes", ext(func(r *network.CreateRequest) {
			r.Prefixes = make([]netip.Prefix, limits.MaxListItems+1)
		})},
		{"child: partitionid empty", "partitionid", alloc(func(r *network.AllocateRequest) { r.PartitionID = "" })},
		{"child: projectid NUL", "projectid", alloc(func(r *network.AllocateRequest) { r.ProjectID = "p\x00" })},
		{"child: name too long", "name", alloc(func(r *network.AllocateRequest) { r.Name = long(limits.MaxName) })},
		{"child: description huge", "description", alloc(func(r *network.AllocateRequest) { r.Description = huge })},
		{"child: label key control char", "labels", alloc(func(r *network.AllocateRequest) { r.Labels = map[string]string{"a\x01": "v"} })},
		{"ip: networkid NUL", "networkid", allocIP(func(r *network.AllocateIPRequest) { r.NetworkID = "\x00" })},
		{"ip: projectid empty", "projectid", allocIP(func(r *network.AllocateIPRequest) { r.ProjectID = "" })},
		{"ip: machineid too long", "machineid", allocIP(func(r *network.AllocateIPRequest) { r.MachineID = long(limits.MaxID) })},
		{"ip: name huge", "name", allocIP(func(r *network.AllocateIPRequest) { r.Name = huge })},
		{"ip: too many tags", "tags", allocIP(func(r *network.AllocateIPRequest) { r.Tags = strings.Split(strings.Repeat("t,", limits.MaxTags), ",") })},
		{"ip: empty tag", "tags[0]", allocIP(func(r *network.AllocateIPRequest) { r.Tags = []string{""} })},
		{"ip: tag too long", "tags[0]", allocIP(func(r *network.AllocateIPRequest) { r.Tags = []string{long(limits.MaxTag)} })},
		{"update ip: tags", "tags[0]", func() error {
			_, err := svc.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: ip.IPAddress, Tags: []string{"a\x00"}})
			return err
		}},
		{"update ip: description", "description", func() error {
			d := long(limits.MaxDescription)
			_, err := svc.UpdateIP(ctx, network.UpdateIPRequest{IPAddress: ip.IPAddress, Description: &d})
			return err
		}},
		{"update: name", "name", func() error {
			n := "a\x00"
			_, err := svc.Update(ctx, network.UpdateRequest{ID: "super", Name: &n})
			return err
		}},
		{"update: labels", "labels", func() error {
			_, err := svc.Update(ctx, network.UpdateRequest{ID: "super", Labels: manyLabels})
			return err
		}},
		{"get: NUL id", "network id", func() error { _, err := svc.Get(ctx, "super\x00"); return err }},
		{"delete: invalid UTF-8 id", "network id", func() error { _, err := svc.Delete(ctx, "\xff"); return err }},
		{"free: huge id", "network id", func() error { _, err := svc.Free(ctx, huge); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := backendtest.Dump(t, store)
			err := c.op()
			require.Error(t, err)
			assert.ErrorIs(t, err, network.ErrInvalidArgument)
			assert.ErrorIs(t, err, errdefs.ErrInvalidArgument)
			assert.Contains(t, err.Error(), c.field)
			assert.Less(t, len(err.Error()), 1024, "the message quotes a bounded prefix: %.300s", err)
			assert.True(t, strings.HasPrefix(err.Error(), "network: "), "package named first: %.200s", err)
			assert.NotContains(t, err.Error(), "invalid argument", "no sentinel text in the message")
			backendtest.Unchanged(t, before, store)
		})
	}

	// A refused id never breaks the listing or deletion of other networks.
	list, err := svc.List(ctx, network.Filter{})
	require.NoError(t, err)
	assert.Len(t, list, 2)
}

// TestFamilyKeys: address families are case-insensitive also as map keys,
// stored canonical; two spellings of one family, an unknown family and an
// empty default map on a non-super network are refused, changing nothing.
func TestFamilyKeys(t *testing.T) {
	store := memstore.New()
	svc := network.New(store, nil)
	super, err := svc.Create(ctx, network.CreateRequest{ID: "super", PartitionID: "fra", PrivateSuper: true,
		Prefixes: pfx("10.0.0.0/16", "2001:db8::/48"), DefaultChildPrefixLength: network.ChildLengths{"ipv4": 22, "IPV6": 64}})
	require.NoError(t, err)
	assert.Equal(t, network.ChildLengths{network.IPv4: 22, network.IPv6: 64}, super.DefaultChildPrefixLength, "stored canonical")
	got, err := svc.Get(ctx, "super")
	require.NoError(t, err)
	assert.Equal(t, network.ChildLengths{network.IPv4: 22, network.IPv6: 64}, got.DefaultChildPrefixLength)

	child, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: network.ChildLengths{"iPv4": 24}})
	require.NoError(t, err)
	assert.Equal(t, 24, child.Prefixes[0].Bits(), "a lowercase length key overrides the default")

	updated, err := svc.Update(ctx, network.UpdateRequest{ID: "super", DefaultChildPrefixLength: network.ChildLengths{"IPV4": 23, "ipv6": 80}})
	require.NoError(t, err)
	assert.Equal(t, network.ChildLengths{network.IPv4: 23, network.IPv6: 80}, updated.DefaultChildPrefixLength)

	var fromJSON network.CreateRequest
	require.NoError(t, json.Unmarshal([]byte(`{"defaultchildprefixlength":{"ipv4":22,"iPv6":96}}`), &fromJSON))
	assert.Equal(t, network.ChildLengths{network.IPv4: 22, network.IPv6: 96}, fromJSON.DefaultChildPrefixLength)
	err = json.Unmarshal([]byte(`{"defaultchildprefixlength":{"ipv4":22,"IPv4":24}}`), &fromJSON)
	assert.ErrorIs(t, err, network.ErrInvalidArgument, "two spellings of one family in JSON")

	cases := []struct {
		name string
		op   func() error
	}{
		{"create: two spellings", func() error {
			_, err := svc.Create(ctx, network.CreateRequest{ID: "s2", PartitionID: "ams", PrivateSuper: true,
				Prefixes: pfx("10.1.0.0/16"), DefaultChildPrefixLength: network.ChildLengths{"ipv4": 22, "IPv4": 24}})
			return err
		}},
		{"create: unknown family", func() error {
			_, err := svc.Create(ctx, network.CreateRequest{ID: "s2", PartitionID: "ams", PrivateSuper: true,
				Prefixes: pfx("10.1.0.0/16"), DefaultChildPrefixLength: network.ChildLengths{"IPv4": 22, "ipx": 24}})
			return err
		}},
		{"create: empty map on a non-super network", func() error {
			_, err := svc.Create(ctx, network.CreateRequest{ID: "ext", Prefixes: pfx("192.0.2.0/24"), DefaultChildPrefixLength: network.ChildLengths{}})
			return err
		}},
		{"create: entry on a non-super network", func() error {
			_, err := svc.Create(ctx, network.CreateRequest{ID: "ext", Prefixes: pfx("192.0.2.0/24"), DefaultChildPrefixLength: network.ChildLengths{"ipv4": 28}})
			return err
		}},
		{"update: two spellings", func() error {
			_, err := svc.Update(ctx, network.UpdateRequest{ID: "super", DefaultChildPrefixLength: network.ChildLengths{"ipv4": 22, "IPV4": 22, "IPv6": 64}})
			return err
		}},
		{"update: empty map on a non-super network", func() error {
			_, err := svc.Update(ctx, network.UpdateRequest{ID: child.ID, DefaultChildPrefixLength: network.ChildLengths{}})
			return err
		}},
		{"allocate: two spellings", func() error {
			_, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: network.ChildLengths{"ipv6": 64, "IPv6": 72}})
			return err
		}},
		{"allocate: unknown family", func() error {
			_, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", Length: network.ChildLengths{"v4": 24}})
			return err
		}},
		{"allocate: unknown addressfamily", func() error {
			_, err := svc.AllocateChild(ctx, network.AllocateRequest{PartitionID: "fra", ProjectID: "p", AddressFamily: "ipv5"})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := backendtest.Dump(t, store)
			err := c.op()
			require.ErrorIs(t, err, network.ErrInvalidArgument)
			backendtest.Unchanged(t, before, store)
		})
	}
}
