package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/metal-stack/metal-go/api/client/project"
	"github.com/metal-stack/metal-go/api/client/size"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sizeRoutes drives the size routes through metal-go; machine mach-1
// exists.
func sizeRoutes(t *testing.T, l *machineLab) {
	admin, view := l.h.admin(), l.h.view()
	created, err := admin.Size().CreateSize(size.NewCreateSizeParams().WithBody(&models.V1SizeCreateRequest{
		ID: ptr("c1-large"), Name: "large", Description: "many cores", Labels: map[string]string{"class": "big"},
		Constraints: []*models.V1SizeConstraint{{Type: ptr("cores"), Min: 9, Max: 64}, {Type: ptr("memory"), Min: 1 << 30, Max: 1 << 40}},
	}), nil)
	require.NoError(t, err)
	s := created.Payload
	assert.Equal(t, "c1-large", *s.ID)
	assert.Equal(t, map[string]string{"class": "big"}, s.Labels)
	require.Len(t, s.Constraints, 2)
	assert.EqualValues(t, 64, s.Constraints[0].Max)
	assert.False(t, time.Time(s.Created).IsZero())

	_, err = admin.Size().CreateSize(size.NewCreateSizeParams().WithBody(&models.V1SizeCreateRequest{
		ID: ptr("c1-large"), Constraints: []*models.V1SizeConstraint{{Type: ptr("cores"), Min: 100, Max: 200}},
	}), nil)
	var dup *size.CreateSizeConflict
	require.ErrorAs(t, err, &dup, "metal-go's declared conflict")
	requireHTTPError(t, err, http.StatusConflict, `size "c1-large" already exists`)

	list, err := view.Size().ListSizes(size.NewListSizesParams(), nil)
	require.NoError(t, err)
	require.Len(t, list.Payload, 2)
	assert.Equal(t, "c1-large", *list.Payload[0].ID, "ordered by id")

	got, err := view.Size().FindSize(size.NewFindSizeParams().WithID("c1-small"), nil)
	require.NoError(t, err)
	assert.Equal(t, "small", got.Payload.Name)
	_, err = view.Size().FindSize(size.NewFindSizeParams().WithID("c9"), nil)
	requireHTTPError(t, err, http.StatusNotFound, `size "c9" does not exist`)

	updated, err := admin.Size().UpdateSize(size.NewUpdateSizeParams().WithBody(&models.V1SizeUpdateRequest{
		ID: ptr("c1-large"), Description: "more cores",
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, "more cores", updated.Payload.Description)
	assert.Equal(t, "large", updated.Payload.Name, "a field not given stays")
	assert.Len(t, updated.Payload.Constraints, 2, "constraints sent as null stay")
	assert.True(t, time.Time(updated.Payload.Created).Equal(time.Time(s.Created)))

	suggested, err := view.Size().Suggest(size.NewSuggestParams().WithBody(&models.V1SizeSuggestRequest{MachineID: ptr("mach-1")}), nil)
	require.NoError(t, err)
	require.Len(t, suggested.Payload, 3)
	assert.Equal(t, "cores", *suggested.Payload[0].Type)
	assert.EqualValues(t, 4, suggested.Payload[0].Min)
	assert.Equal(t, "EPYC 7402P", suggested.Payload[0].Identifier)
	assert.EqualValues(t, int64(32<<30), suggested.Payload[1].Max)
	assert.Equal(t, "/dev/nvme0n1", suggested.Payload[2].Identifier)

	deleted, err := admin.Size().DeleteSize(size.NewDeleteSizeParams().WithID("c1-large"), nil)
	require.NoError(t, err)
	assert.Equal(t, "c1-large", *deleted.Payload.ID)
}

// reservationRoutes drives the size reservation routes through metal-go
// and leaves reservation rv1: 1 machine of c1-small in p1 for project
// pr2.
func reservationRoutes(t *testing.T, l *machineLab) {
	edit, view := l.h.edit(), l.h.view()
	_, err := l.h.admin().Project().CreateProject(project.NewCreateProjectParams().WithBody(&models.V1ProjectCreateRequest{
		Meta: &models.V1Meta{ID: "pr2"}, TenantID: "tenant",
	}), nil)
	require.NoError(t, err)
	created, err := edit.Size().CreateSizeReservation(size.NewCreateSizeReservationParams().WithBody(&models.V1SizeReservationCreateRequest{
		ID: ptr("rv1"), Sizeid: ptr("c1-small"), Partitionids: []string{"p1"}, Projectid: ptr("pr2"), Amount: ptr(int32(2)),
		Description: "for the database", Labels: map[string]string{"team": "db"},
	}), nil)
	require.NoError(t, err)
	rv := created.Payload
	assert.Equal(t, "rv1", *rv.ID)
	assert.EqualValues(t, 2, *rv.Amount)
	assert.Equal(t, []string{"p1"}, rv.Partitionids)

	list, err := view.Size().ListSizeReservations(size.NewListSizeReservationsParams(), nil)
	require.NoError(t, err)
	require.Len(t, list.Payload, 1)
	got, err := view.Size().GetSizeReservation(size.NewGetSizeReservationParams().WithID("rv1"), nil)
	require.NoError(t, err)
	assert.Equal(t, "for the database", got.Payload.Description)
	found, err := view.Size().FindSizeReservations(size.NewFindSizeReservationsParams().WithBody(&models.V1SizeReservationListRequest{
		Projectid: "pr2", Partitionid: "p1",
	}), nil)
	require.NoError(t, err)
	require.Len(t, found.Payload, 1)
	found, err = view.Size().FindSizeReservations(size.NewFindSizeReservationsParams().WithBody(&models.V1SizeReservationListRequest{Projectid: "pr1"}), nil)
	require.NoError(t, err)
	assert.Empty(t, found.Payload)

	updated, err := edit.Size().UpdateSizeReservation(size.NewUpdateSizeReservationParams().WithBody(&models.V1SizeReservationUpdateRequest{
		ID: ptr("rv1"), Amount: ptr(int32(1)),
	}), nil)
	require.NoError(t, err)
	assert.EqualValues(t, 1, *updated.Payload.Amount)
	assert.Equal(t, "for the database", updated.Payload.Description, "a field not given stays")
	assert.Equal(t, map[string]string{"team": "db"}, updated.Payload.Labels)

	usage, err := view.Size().SizeReservationsUsage(size.NewSizeReservationsUsageParams().WithBody(&models.V1SizeReservationListRequest{}), nil)
	require.NoError(t, err)
	require.Len(t, usage.Payload, 1)
	u := usage.Payload[0]
	assert.Equal(t, "p1", *u.Partitionid)
	assert.EqualValues(t, 1, *u.Amount)
	assert.EqualValues(t, 0, *u.Usedamount)
	assert.EqualValues(t, 0, *u.Projectallocations)

	other, err := edit.Size().CreateSizeReservation(size.NewCreateSizeReservationParams().WithBody(&models.V1SizeReservationCreateRequest{
		ID: ptr("rv2"), Sizeid: ptr("c1-small"), Partitionids: []string{"p1"}, Projectid: ptr("pr2"), Amount: ptr(int32(5)),
	}), nil)
	require.NoError(t, err)
	deleted, err := edit.Size().DeleteSizeReservation(size.NewDeleteSizeReservationParams().WithID(*other.Payload.ID), nil)
	require.NoError(t, err)
	assert.Equal(t, "rv2", *deleted.Payload.ID)
	_, err = view.Size().GetSizeReservation(size.NewGetSizeReservationParams().WithID("rv2"), nil)
	requireHTTPError(t, err, http.StatusNotFound, `"rv2"`)
}
