package machine_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/backends/memstore"
	"github.com/metalkit/metalkit/internal/storetest"
	"github.com/metalkit/metalkit/machine"
)

// BenchmarkRegister: one op registers one of 24 machines again, wired to
// the leaves of three racks of eight ports, with a new BIOS version so
// that the machine record is written each time. Registration reads every
// switch of the partition, so its cost grows with the partition's
// switches.
func BenchmarkRegister(b *testing.B) {
	for _, fac := range storetest.Factories() {
		b.Run(fac.Name, func(b *testing.B) {
			l := newLab(b, fac.New(b), nil)
			l.size("small", 1, 4)
			var reqs []machine.RegisterRequest
			for r := 1; r <= 3; r++ {
				for p := range 8 {
					req := machine.RegisterRequest{ID: fmt.Sprintf("m-%d-%d", r, p), PartitionID: partition, Hardware: hardware(r, p, 4),
						BIOS: &machine.BIOS{Vendor: "AMI", Version: "2.1"}, MetalHammerVersion: "v0.13.0"}
					if _, _, err := l.svc.Register(l.ctx, req); err != nil {
						b.Fatal(err)
					}
					reqs = append(reqs, req)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req := reqs[i%len(reqs)]
				req.BIOS = &machine.BIOS{Vendor: "AMI", Version: strconv.Itoa(i)}
				if _, created, err := l.svc.Register(l.ctx, req); err != nil || created {
					b.Fatal(err, created)
				}
				i++
			}
		})
	}
}

// BenchmarkEvent: one op is one provisioning event of a machine whose
// container holds 100 events (the most it keeps); the events run through a
// provisioning cycle, so that each is stored.
func BenchmarkEvent(b *testing.B) {
	cycle := []machine.EventType{machine.EventPXEBooting, machine.EventPreparing, machine.EventRegistering, machine.EventWaiting,
		machine.EventInstalling, machine.EventBootingNewKernel, machine.EventPhonedHome, machine.EventPlannedReboot}
	for _, fac := range storetest.Factories() {
		b.Run(fac.Name, func(b *testing.B) {
			l := newLab(b, fac.New(b), nil)
			l.size("small", 1, 4)
			l.register("m1", 1, 0, 4)
			i := 0
			send := func() {
				if _, err := l.svc.Event(l.ctx, "m1", string(cycle[i%len(cycle)]), ""); err != nil {
					b.Fatal(err)
				}
				i++
			}
			for range 100 {
				send()
			}
			b.ReportAllocs()
			for b.Loop() {
				send()
			}
			c, err := l.svc.GetEvents(l.ctx, "m1")
			if err != nil || len(c.Events) != 100 || c.Events[0].Event != cycle[(i-1)%len(cycle)] {
				b.Fatalf("the container does not hold the last 100 events: %v", err)
			}
		})
	}
}

// BenchmarkLiveliness: one op is one liveliness pass over 10,000
// machines, all alive (the pass reads every machine and container and
// writes nothing).
func BenchmarkLiveliness(b *testing.B) {
	const machines = 10000
	b.Run(fmt.Sprintf("memstore/machines=%d", machines), func(b *testing.B) {
		f := newFleet(b, memstore.New(), machines, 10)
		b.ReportAllocs()
		for b.Loop() {
			res, err := f.svc.Liveliness(f.ctx)
			if err != nil || res.Alive != machines || res.Changed != 0 {
				b.Fatal(err, res)
			}
		}
	})
}

// BenchmarkListFreeMachines: one op lists the free machines of one size in
// a partition whose machines have 10 sizes, so the result is a tenth of the
// machines. The listing reads the free index of the partition and size:
// its cost grows with the result, not with all machines (compare
// BenchmarkListMachines, the same result by a scan of all machines).
func BenchmarkListFreeMachines(b *testing.B) {
	for _, machines := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("memstore/machines=%d", machines), func(b *testing.B) {
			benchmarkList(b, machines, false)
		})
	}
}

// BenchmarkListMachines: one op lists the same machines as
// BenchmarkListFreeMachines without asking for free ones, which scans every
// machine of the store.
func BenchmarkListMachines(b *testing.B) {
	b.Run("memstore/machines=10000", func(b *testing.B) { benchmarkList(b, 10000, true) })
}

func benchmarkList(b *testing.B, machines int, scan bool) {
	f := newFleet(b, memstore.New(), machines, 10)
	no := false
	filter := machine.Filter{PartitionID: partition, SizeID: fleetSize(3), Allocated: &no}
	if scan {
		filter.Allocated = nil
	}
	b.ReportAllocs()
	for b.Loop() {
		ms, err := f.svc.List(f.ctx, filter)
		if err != nil || len(ms) != machines/10 {
			b.Fatal(err, len(ms))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(machines/10), "ns/listed")
}

// BenchmarkAllocateMachine: one op allocates a machine by size into a
// dual-stack private network (an IP of each family and an ASN) and frees
// it again, among free candidates; between ops, untimed, the freed machine
// waits again. Picking a candidate costs O(racks + log n) store operations,
// so 10,000 candidates in 200 racks cost little more than 100 in 2.
func BenchmarkAllocateMachine(b *testing.B) {
	for _, fac := range storetest.Factories() {
		b.Run(fac.Name, func(b *testing.B) {
			for _, free := range []int{100, 10000} {
				b.Run(fmt.Sprintf("free=%d", free), func(b *testing.B) {
					f := newFleet(b, fac.New(b), free, 1)
					req := allocation("p1", f.childNetwork("p1").ID)
					req.SizeID = fleetSize(0)
					b.ReportAllocs()
					for b.Loop() {
						m, err := f.svc.Allocate(f.ctx, req)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := f.svc.Free(f.ctx, m.ID); err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						f.rewait(b, m.ID)
						b.StartTimer()
					}
				})
			}
		})
	}
}

// BenchmarkFreeMachine: one op frees a machine allocated into a dual-stack
// private network, wired to its rack's two leaves of 50 ports; between
// ops, untimed, the next machine is allocated by id.
func BenchmarkFreeMachine(b *testing.B) {
	for _, fac := range storetest.Factories() {
		b.Run(fac.Name, func(b *testing.B) {
			benchmarkFree(b, fac.New(b), 0)
		})
	}
}

// BenchmarkFreeMachineAmongAllocated: BenchmarkFreeMachine with other
// machines allocated, two IPs each. Freeing finds the IPs still tagged with
// the machine through network's machine index, so its cost does not grow
// with the IPs of other allocations.
func BenchmarkFreeMachineAmongAllocated(b *testing.B) {
	for _, allocated := range []int{100, 1000} {
		b.Run(fmt.Sprintf("memstore/allocated=%d", allocated), func(b *testing.B) {
			benchmarkFree(b, memstore.New(), allocated)
		})
	}
}

// benchmarkFree frees one of 50 machines per op while others are
// allocated.
func benchmarkFree(b *testing.B, store backends.Store, others int) {
	const pool = 50
	f := newFleet(b, store, others+pool, 1)
	req := allocation("p1", f.childNetwork("p1").ID)
	req.PartitionID, req.SizeID = "", ""
	allocate := func(i int) {
		r := req
		r.UUID = fleetMachineID(i)
		if _, err := f.svc.Allocate(f.ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	for i := range others {
		allocate(pool + i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		allocate(i % pool)
		b.StartTimer()
		if _, err := f.svc.Free(f.ctx, fleetMachineID(i%pool)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.rewait(b, fleetMachineID(i%pool))
		b.StartTimer()
		i++
	}
}
