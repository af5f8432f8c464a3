package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	metalgo "github.com/metal-stack/metal-go"
	"github.com/metal-stack/metal-go/api/client/partition"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkit/metalkit"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/examples/apiserver/api"
)

// A downstream test serves the API from httptest over a memstore kit and
// talks to it with metal-go, signed as metalctl signs. The server's
// catalog is also the kit's, so the library checks partitions and
// projects against it.
func ExampleNew() {
	store := memstore.New()
	cat := api.NewCatalog(store, nil)
	kit, err := metalkit.Open(store, &metalkit.Options{Catalog: cat})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kit.Close()
	srv, err := api.New(kit, &api.Options{
		Keys:    api.Keys{Admin: "secret"},
		Catalog: cat,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/v1/health")
	if err != nil {
		fmt.Println(err)
		return
	}
	var health struct{ Status string }
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	fmt.Println("health:", resp.StatusCode, health.Status)

	client, err := metalgo.NewDriver(ts.URL, "", "secret", metalgo.AuthType(api.AuthTypeAdmin))
	if err != nil {
		fmt.Println(err)
		return
	}
	id := "fra-equ01"
	created, err := client.Partition().CreatePartition(partition.NewCreatePartitionParams().WithBody(&models.V1PartitionCreateRequest{
		ID: &id, Name: "Frankfurt", Bootconfig: &models.V1PartitionBootConfiguration{},
	}), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("created:", *created.Payload.ID, created.Payload.Name)
	fmt.Println("catalog:", srv.Catalog().Partition(context.Background(), id))

	_, err = client.Partition().FindPartition(partition.NewFindPartitionParams().WithID("nope"), nil)
	var notFound *partition.FindPartitionDefault
	if errors.As(err, &notFound) {
		fmt.Println("error:", notFound.Code(), notFound.Payload.Message)
	}
	// Output:
	// health: 200 healthy
	// created: fra-equ01 Frankfurt
	// catalog: <nil>
	// error: 404 partition "nope" not found
}
