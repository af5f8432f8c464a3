package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	metalgo "github.com/metal-stack/metal-go"
	auditclient "github.com/metal-stack/metal-go/api/client/audit"
	ipclient "github.com/metal-stack/metal-go/api/client/ip"
	nwclient "github.com/metal-stack/metal-go/api/client/network"
	swclient "github.com/metal-stack/metal-go/api/client/switch_operations"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// findHarness holds the release flow's networks and IPs (partition p1,
// project pr1) and the switch leaf01.
func findHarness(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t, memstore.New(), nil)
	seedCatalog(t, h.admin(), "p1", "pr1")
	child := releaseFlow(t, h, "p1", "pr1")
	switchFlow(t, h, "p1")
	return h, child
}

func networkIDs(ns []*models.V1NetworkResponse) []string {
	ids := []string{}
	for _, n := range ns {
		ids = append(ids, *n.ID)
	}
	return ids
}

// TestFindNetworks shows every network filter the library supports, and a
// 400 naming each one it does not.
func TestFindNetworks(t *testing.T) {
	h, child := findHarness(t)
	_, err := h.admin().Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(&models.V1NetworkCreateRequest{
		ID: ptr("internet"), Name: "internet", Prefixes: []string{"185.1.2.0/24"}, Destinationprefixes: []string{"0.0.0.0/0"},
		Nat: ptr(true), Vrf: 104009,
	}), nil)
	require.NoError(t, err)
	view := h.view()
	got, err := view.Network().FindNetwork(nwclient.NewFindNetworkParams().WithID(child), nil)
	require.NoError(t, err)
	childVRF := got.Payload.Vrf
	require.NotZero(t, childVRF)
	find := func(req *models.V1NetworkFindRequest) ([]string, error) {
		ok, err := view.Network().FindNetworks(nwclient.NewFindNetworksParams().WithBody(req), nil)
		if err != nil {
			return nil, err
		}
		return networkIDs(ok.Payload), nil
	}
	for name, c := range map[string]struct {
		req  *models.V1NetworkFindRequest
		want []string
	}{
		"nothing":              {&models.V1NetworkFindRequest{}, []string{child, "internet", "super"}},
		"id":                   {&models.V1NetworkFindRequest{ID: "super"}, []string{"super"}},
		"name":                 {&models.V1NetworkFindRequest{Name: "project network"}, []string{child}},
		"other name":           {&models.V1NetworkFindRequest{Name: "Project Network"}, []string{}},
		"partitionid":          {&models.V1NetworkFindRequest{Partitionid: "p1"}, []string{child, "super"}},
		"projectid":            {&models.V1NetworkFindRequest{Projectid: "pr1"}, []string{child}},
		"parentnetworkid":      {&models.V1NetworkFindRequest{Parentnetworkid: "super"}, []string{child}},
		"privatesuper":         {&models.V1NetworkFindRequest{Privatesuper: true}, []string{"super"}},
		"underlay":             {&models.V1NetworkFindRequest{Underlay: true}, []string{}},
		"super and underlay":   {&models.V1NetworkFindRequest{Privatesuper: true, Underlay: true}, []string{}},
		"nat":                  {&models.V1NetworkFindRequest{Nat: true}, []string{"internet"}},
		"vrf":                  {&models.V1NetworkFindRequest{Vrf: 104009}, []string{"internet"}},
		"vrf of the child":     {&models.V1NetworkFindRequest{Vrf: childVRF, Partitionid: "p1"}, []string{child}},
		"one prefix":           {&models.V1NetworkFindRequest{Prefixes: []string{"10.0.0.0/22"}}, []string{child}},
		"addressfamily":        {&models.V1NetworkFindRequest{Addressfamily: "IPv6"}, []string{child, "super"}},
		"addressfamily, lower": {&models.V1NetworkFindRequest{Addressfamily: "ipv6", Projectid: "pr1"}, []string{child}},
		"labels":               {&models.V1NetworkFindRequest{Labels: map[string]string{"x": "y"}}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := find(c.req)
			require.NoError(t, err)
			assert.ElementsMatch(t, c.want, got)
		})
	}
	for name, c := range map[string]struct {
		req  *models.V1NetworkFindRequest
		want string
	}{
		"destinationprefixes": {&models.V1NetworkFindRequest{Destinationprefixes: []string{"0.0.0.0/0"}}, "the filter destinationprefixes is not supported"},
		"two prefixes":        {&models.V1NetworkFindRequest{Prefixes: []string{"10.0.0.0/22", "10.0.4.0/22"}}, "searches networks by one prefix; 2 were given"},
		"bad prefix":          {&models.V1NetworkFindRequest{Prefixes: []string{"10.0.0.0/33"}}, `prefixes[0] "10.0.0.0/33" is not a prefix`},
		"bad family":          {&models.V1NetworkFindRequest{Addressfamily: "IPv5"}, `addressfamily "IPv5" must be IPv4 or IPv6`},
		"bad vrf":             {&models.V1NetworkFindRequest{Vrf: -1}, "vrf -1: must lie in 1..131072"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := find(c.req)
			requireHTTPError(t, err, http.StatusBadRequest, c.want)
			assert.Contains(t, err.(httpError).GetPayload().Message, "networks can be found by id, name, partitionid")
		})
	}
	t.Run("several refused at once", func(t *testing.T) {
		_, err := find(&models.V1NetworkFindRequest{Destinationprefixes: []string{"::/0"}, Vrf: 1 << 20, Prefixes: []string{"a", "b"}})
		requireHTTPError(t, err, http.StatusBadRequest, "destinationprefixes")
		msg := err.(httpError).GetPayload().Message
		assert.Contains(t, msg, "vrf 1048576: must lie in")
		assert.Contains(t, msg, "the filter prefixes")
	})
	for name, c := range map[string]struct{ body, want string }{
		"privatesuper false": {`{"privatesuper": false}`, "the filter privatesuper false is not supported"},
		"vrf 0":              {`{"vrf": 0}`, "the filter vrf 0 is not supported"},
		"unknown member":     {`{"partitionid": "p1", "namespace": "x"}`, `the filter "namespace" is not supported`},
	} {
		t.Run(name, func(t *testing.T) {
			h.requireRawError(t, api.AuthTypeView, viewKey, http.MethodPost, "/v1/network/find", c.body, http.StatusBadRequest, c.want)
		})
	}
	for name, c := range map[string]struct {
		body string
		want []string
	}{
		// metal-go leaves a false nat out; other clients can send it.
		"nat false":                  {`{"nat": false}`, []string{child, "super"}},
		"null members are not given": {`{"name": null, "nat": null, "vrf": null, "prefixes": null, "id": "super"}`, []string{"super"}},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := h.raw(http.MethodPost, "/v1/network/find", []byte(c.body), api.AuthTypeView, viewKey, time.Now())
			require.Equal(t, http.StatusOK, code, "%s", body)
			var got []*models.V1NetworkResponse
			require.NoError(t, json.Unmarshal(body, &got))
			assert.ElementsMatch(t, c.want, networkIDs(got))
		})
	}
}

// TestFindIPs shows every IP filter (the library supports all of
// metal-api's), and a 400 naming each value that does not parse.
func TestFindIPs(t *testing.T) {
	h, child := findHarness(t)
	find := func(req *models.V1IPFindRequest) ([]string, error) {
		ok, err := h.view().IP().FindIPs(ipclient.NewFindIPsParams().WithBody(req), nil)
		if err != nil {
			return nil, err
		}
		out := []string{}
		for _, ip := range ok.Payload {
			out = append(out, *ip.Ipaddress)
		}
		return out, nil
	}
	m1, err := h.edit().IP().AllocateIP(ipclient.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
		Networkid: ptr(child), Projectid: ptr("pr1"), Machineid: "m1", Tags: []string{"a=1"},
	}), nil)
	require.NoError(t, err)
	allocation := *m1.Payload.Allocationuuid
	for name, c := range map[string]struct {
		req  *models.V1IPFindRequest
		want []string
	}{
		"nothing":              {&models.V1IPFindRequest{}, []string{"10.0.0.1", "10.0.0.2", "2001:db8:0:10::1"}},
		"ipaddress":            {&models.V1IPFindRequest{Ipaddress: "10.0.0.2"}, []string{"10.0.0.2"}},
		"ipaddress and other":  {&models.V1IPFindRequest{Ipaddress: "10.0.0.2", Type: "static"}, []string{}},
		"free ipaddress":       {&models.V1IPFindRequest{Ipaddress: "10.0.0.9"}, []string{}},
		"networkid":            {&models.V1IPFindRequest{Networkid: child}, []string{"10.0.0.1", "10.0.0.2", "2001:db8:0:10::1"}},
		"projectid":            {&models.V1IPFindRequest{Projectid: "other"}, []string{}},
		"machineid":            {&models.V1IPFindRequest{Machineid: "m1"}, []string{"10.0.0.2"}},
		"type":                 {&models.V1IPFindRequest{Type: "static"}, []string{"2001:db8:0:10::1"}},
		"tags":                 {&models.V1IPFindRequest{Tags: []string{"a=1", "machine.metal-stack.io/id=m1"}}, []string{"10.0.0.2"}},
		"addressfamily":        {&models.V1IPFindRequest{Addressfamily: "IPv4"}, []string{"10.0.0.1", "10.0.0.2"}},
		"allocationuuid":       {&models.V1IPFindRequest{Allocationuuid: allocation}, []string{"10.0.0.2"}},
		"other allocationuuid": {&models.V1IPFindRequest{Allocationuuid: "x"}, []string{}},
		"name":                 {&models.V1IPFindRequest{Name: "v4"}, []string{"10.0.0.1"}},
		"name and ipaddress":   {&models.V1IPFindRequest{Name: "v4", Ipaddress: "10.0.0.2"}, []string{}},
		"networkprefix":        {&models.V1IPFindRequest{Networkprefix: "10.0.0.0/22"}, []string{"10.0.0.1", "10.0.0.2"}},
		"networkprefix, IPv6":  {&models.V1IPFindRequest{Networkprefix: "2001:db8:0:10::/96"}, []string{"2001:db8:0:10::1"}},
		"networkprefix around": {&models.V1IPFindRequest{Networkprefix: "10.0.0.0/8", Machineid: "m1"}, []string{"10.0.0.2"}},
		"networkprefix, none":  {&models.V1IPFindRequest{Networkprefix: "10.0.4.0/22"}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := find(c.req)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	for name, c := range map[string]struct {
		req  *models.V1IPFindRequest
		want string
	}{
		"bad address":       {&models.V1IPFindRequest{Ipaddress: "10.0.0.300"}, `ipaddress "10.0.0.300" is not an IP address`},
		"bad family":        {&models.V1IPFindRequest{Addressfamily: "inet"}, `addressfamily "inet" must be IPv4 or IPv6`},
		"bad networkprefix": {&models.V1IPFindRequest{Networkprefix: "10.0.0.0/33"}, `networkprefix "10.0.0.0/33" is not a prefix`},
		"host bits":         {&models.V1IPFindRequest{Networkprefix: "10.0.0.1/22"}, `networkprefix "10.0.0.1/22" has host bits set; want 10.0.0.0/22`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := find(c.req)
			requireHTTPError(t, err, http.StatusBadRequest, c.want)
			assert.Contains(t, err.(httpError).GetPayload().Message, "IPs can be found by ipaddress, allocationuuid, networkprefix")
		})
	}
	t.Run("unknown member", func(t *testing.T) {
		h.requireRawError(t, api.AuthTypeView, viewKey, http.MethodPost, "/v1/ip/find", `{"networkid": "x", "prefix": "10.0.0.0/22"}`, http.StatusBadRequest, `the filter "prefix" is not supported`)
	})
}

// TestFindSwitches shows every switch filter (the library supports all of
// metal-api's), and a 400 naming a member that is none.
func TestFindSwitches(t *testing.T) {
	h, _ := findHarness(t)
	find := func(req *models.V1SwitchFindRequest) ([]string, error) {
		ok, err := h.view().SwitchOperations().FindSwitches(swclient.NewFindSwitchesParams().WithBody(req), nil)
		if err != nil {
			return nil, err
		}
		out := []string{}
		for _, sw := range ok.Payload {
			out = append(out, *sw.ID)
		}
		return out, nil
	}
	for name, c := range map[string]struct {
		req  *models.V1SwitchFindRequest
		want []string
	}{
		"nothing":           {&models.V1SwitchFindRequest{}, []string{"leaf01"}},
		"id":                {&models.V1SwitchFindRequest{ID: "leaf01"}, []string{"leaf01"}},
		"other id":          {&models.V1SwitchFindRequest{ID: "leaf02"}, []string{}},
		"partitionid":       {&models.V1SwitchFindRequest{Partitionid: "p1"}, []string{"leaf01"}},
		"rackid":            {&models.V1SwitchFindRequest{Rackid: "rack02"}, []string{}},
		"osvendor":          {&models.V1SwitchFindRequest{Osvendor: "sonic"}, []string{"leaf01"}},
		"id and other rack": {&models.V1SwitchFindRequest{ID: "leaf01", Rackid: "rack02"}, []string{}},
		"name":              {&models.V1SwitchFindRequest{Name: "leaf01"}, []string{"leaf01"}},
		"other name":        {&models.V1SwitchFindRequest{Name: "leaf02"}, []string{}},
		"osversion":         {&models.V1SwitchFindRequest{Osversion: "ec202211"}, []string{"leaf01"}},
		"other osversion":   {&models.V1SwitchFindRequest{Osversion: "202311", Osvendor: "SONiC"}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := find(c.req)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	t.Run("unknown member", func(t *testing.T) {
		h.requireRawError(t, api.AuthTypeView, viewKey, http.MethodPost, "/v1/switch/find", `{"id": "leaf01", "mode": "operational"}`, http.StatusBadRequest, `the filter "mode" is not supported`)
	})
}

// TestFindAudit shows the audit filters (all of metal-api's are
// supported) and paging with the continuation token.
func TestFindAudit(t *testing.T) {
	h, _ := findHarness(t)
	find := func(req *models.V1AuditFindRequest) ([]*models.V1AuditResponse, error) {
		ok, err := h.view().Audit().FindAuditTraces(auditclient.NewFindAuditTracesParams().WithBody(req), nil)
		if err != nil {
			return nil, err
		}
		return ok.Payload, nil
	}
	all, err := find(&models.V1AuditFindRequest{})
	require.NoError(t, err)
	require.NotEmpty(t, all)
	for i := 1; i < len(all); i++ {
		assert.False(t, time.Time(all[i].Timestamp).After(time.Time(all[i-1].Timestamp)), "newest first")
	}
	newest := time.Time(all[0].Timestamp)

	for name, c := range map[string]struct {
		req   *models.V1AuditFindRequest
		check func(t *testing.T, es []*models.V1AuditResponse)
	}{
		"limit": {&models.V1AuditFindRequest{Limit: 2}, func(t *testing.T, es []*models.V1AuditResponse) { assert.Len(t, es, 2) }},
		// metal-go sends dates with milliseconds.
		"from and to": {&models.V1AuditFindRequest{From: strfmt.DateTime(newest.Truncate(time.Millisecond)), To: strfmt.DateTime(newest.Add(time.Millisecond))}, func(t *testing.T, es []*models.V1AuditResponse) {
			require.NotEmpty(t, es)
			assert.True(t, time.Time(es[0].Timestamp).Equal(newest))
			for _, e := range es {
				assert.False(t, time.Time(e.Timestamp).Before(newest.Truncate(time.Millisecond)))
			}
		}},
		"user and type": {&models.V1AuditFindRequest{User: "metal-admin@metal-stack.io", Type: "event"}, func(t *testing.T, es []*models.V1AuditResponse) {
			require.NotEmpty(t, es)
			for _, e := range es {
				assert.Equal(t, "metal-admin@metal-stack.io", e.User)
				assert.Equal(t, "event", e.Type)
			}
		}},
		"status code": {&models.V1AuditFindRequest{StatusCode: http.StatusCreated, Path: "/v1/ip/allocate"}, func(t *testing.T, es []*models.V1AuditResponse) {
			require.Len(t, es, 2, "two IPs allocated")
			assert.Equal(t, "response", es[0].Phase)
		}},
		"body words": {&models.V1AuditFindRequest{Body: "IPv6 addressfamily", Phase: "request"}, func(t *testing.T, es []*models.V1AuditResponse) {
			require.Len(t, es, 1, "the IPv6 allocation")
			assert.Equal(t, "/v1/ip/allocate", es[0].Path)
		}},
		"component, tenant, detail, remote_addr, forwarded_for, error, project": {&models.V1AuditFindRequest{
			Component: "nope", Tenant: "provider", Detail: "POST", RemoteAddr: "127.0.0.1", ForwardedFor: "x", Error: "y", Project: "z",
		}, func(t *testing.T, es []*models.V1AuditResponse) { assert.Empty(t, es) }},
	} {
		t.Run(name, func(t *testing.T) {
			es, err := find(c.req)
			require.NoError(t, err)
			c.check(t, es)
		})
	}
	t.Run("pages with the continuation token", func(t *testing.T) {
		var pages [][]map[string]any
		after := ""
		for {
			body := `{"limit": 3}`
			if after != "" {
				body = `{"limit": 3, "after": "` + after + `"}`
			}
			req, err := http.NewRequest(http.MethodPost, h.ts.URL+"/v1/audit/find", strings.NewReader(body))
			require.NoError(t, err)
			for k, v := range signedHeadersFor(api.AuthTypeView, viewKey, http.MethodPost, time.Now()) {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var page []map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			pages = append(pages, page)
			after = resp.Header.Get(api.AuditNextHeader)
			if after == "" {
				break
			}
			require.Len(t, page, 3)
		}
		var n int
		for _, p := range pages {
			n += len(p)
		}
		assert.Equal(t, len(all), n, "no gap, no repeat")
		assert.Equal(t, all[3].Rqid, pages[1][0]["rqid"])
	})
	for name, c := range map[string]struct{ body, want string }{
		"unknown member": {`{"namespace": "x"}`, `the filter "namespace" is not supported`},
		"bad phase":      {`{"phase": "middle"}`, `phase "middle" is not opened, request`},
		"from after to":  {`{"from": "2024-05-10T00:00:00Z", "to": "2024-05-09T00:00:00Z"}`, "is after to"},
		"negative limit": {`{"limit": -1}`, "limit -1 is negative"},
		"bad token":      {`{"after": "!!"}`, `after "!!" is not a continuation token`},
	} {
		t.Run(name, func(t *testing.T) {
			h.requireRawError(t, api.AuthTypeView, viewKey, http.MethodPost, "/v1/audit/find", c.body, http.StatusBadRequest, c.want)
		})
	}
	t.Run("unset dates are not given", func(t *testing.T) {
		code, body := h.raw(http.MethodPost, "/v1/audit/find", []byte(`{"from": "0001-01-01T00:00:00.000Z", "to": "0001-01-01T00:00:00.000Z"}`), api.AuthTypeView, viewKey, time.Now())
		require.Equal(t, http.StatusOK, code, "%s", body)
		var got []map[string]any
		require.NoError(t, json.Unmarshal(body, &got))
		assert.Len(t, got, len(all))
	})
}

// TestFindAuditWithoutTrail serves a kit without a trail: audit find
// answers 503 with a message, and the other routes work.
func TestFindAuditWithoutTrail(t *testing.T) {
	store := memstore.New()
	cat := api.NewCatalog(store, nil)
	kit, err := metalkit.Open(store, &metalkit.Options{NoAudit: true, Catalog: cat})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kit.Close() })
	srv, err := api.New(kit, &api.Options{Keys: api.Keys{Admin: adminKey}, Catalog: cat, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := metalgo.NewDriver(ts.URL, "", adminKey)
	require.NoError(t, err)
	_, err = c.Audit().FindAuditTraces(auditclient.NewFindAuditTracesParams().WithBody(&models.V1AuditFindRequest{}), nil)
	requireHTTPError(t, err, http.StatusServiceUnavailable, "this server keeps no audit trail")
	seedCatalog(t, c, "p1", "pr1")
	_, err = c.Network().CreateNetwork(nwclient.NewCreateNetworkParams().WithBody(superNetwork("super", "p1")), nil)
	require.NoError(t, err)
}
