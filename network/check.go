package network

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"

	"github.com/metalkit/metalkit/backends"
	"github.com/metalkit/metalkit/check"
	"github.com/metalkit/metalkit/ipam"
)

// checkBatch is the most IPs a check transaction reads.
const checkBatch = 1024

// Check verifies the network package's state against itself and the ipam
// engine, reading in transactions of bounded size:
//
//   - every network decodes, its prefixes are registered in ipam, a child
//     names an existing super network that lists it as a child and its
//     prefixes are children of the parent's, and the partition indexes of
//     super and underlay networks name existing networks of that kind;
//   - every IP decodes, belongs to an existing network and lies in the
//     prefix of it that its record names, and its address is taken in ipam
//     (not both free and held); no address is taken in ipam without an IP
//     (an orphaned address), and no IP in a network's prefix belongs to
//     another network; the machine index holds exactly one entry for each
//     machine tag of each IP;
//   - the VRF use counts equal the networks using each VRF, and the VRF
//     pool holds exactly the VRFs in use.
//
// Orphaned and doubly held addresses, index entries, VRF counts and pool
// entries are repairable.
func Check(ctx context.Context, store backends.Store, opts check.Options) ([]check.Finding, error) {
	c := &checker{store: store, col: check.NewCollector("network", opts)}
	var nets []*Network
	err := c.view(ctx, func(tx backends.Tx) error {
		nets = nil
		return tx.Ascend(bucketNetworks, nil, func(k, v []byte) (bool, error) {
			n, err := decodeNetwork(string(k), v)
			if err != nil {
				c.add("record", nil, "network %q does not decode: %v", k, err, check.Key{Bucket: bucketNetworks, Key: k})
				return true, nil
			}
			nets = append(nets, n)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if err := c.view(ctx, func(tx backends.Tx) error { return c.network(tx, n.ID) }); err != nil {
			return nil, err
		}
		for _, p := range n.Prefixes {
			if err := c.prefixIPs(ctx, n.ID, p); err != nil {
				return nil, err
			}
		}
	}
	if err := c.ipRecords(ctx); err != nil {
		return nil, err
	}
	if err := c.machineIndex(ctx); err != nil {
		return nil, err
	}
	if err := c.view(ctx, c.indexes); err != nil {
		return nil, err
	}
	if err := c.view(ctx, c.vrfs); err != nil {
		return nil, err
	}
	return c.col.Findings(), nil
}

type checker struct {
	store backends.Store
	col   *check.Collector
}

// add records a finding; the check.Keys at the end of args are its keys.
func (c *checker) add(invariant string, repair func(tx backends.Tx) error, format string, args ...any) {
	var keys []check.Key
	for len(args) > 0 {
		k, ok := args[len(args)-1].(check.Key)
		if !ok {
			break
		}
		keys = append([]check.Key{k}, keys...)
		args = args[:len(args)-1]
	}
	c.col.Add(invariant, repair, keys, format, args...)
}

func networkKey(id string) check.Key { return check.Key{Bucket: bucketNetworks, Key: idKey(id)} }

// network checks one network's links, in one transaction.
func (c *checker) network(tx backends.Tx, id string) error {
	n, err := GetTx(tx, id)
	if errors.Is(err, ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	for _, p := range n.Prefixes {
		if _, err := ipam.GetPrefix(tx, p); errors.Is(err, ipam.ErrNotFound) {
			c.add("prefix", nil, "network %q: prefix %s is not registered in ipam", n.ID, p, networkKey(n.ID))
		} else if err != nil && !errors.Is(err, ipam.ErrCorrupt) {
			return err
		}
	}
	if n.ParentNetworkID != "" {
		parent, err := GetTx(tx, n.ParentNetworkID)
		switch {
		case errors.Is(err, ErrNotFound):
			c.add("parent", nil, "child network %q names the missing parent %q", n.ID, n.ParentNetworkID, networkKey(n.ID))
			return nil
		case errors.Is(err, ErrCorrupt):
			return nil // reported with the records
		case err != nil:
			return err
		}
		if !parent.PrivateSuper {
			c.add("parent", nil, "child network %q names %q as its parent, which is no super network", n.ID, parent.ID, networkKey(n.ID))
		}
		key := pairKey(parent.ID, []byte(n.ID))
		if ok, err := backends.Has(tx, bucketChildren, key); err != nil {
			return err
		} else if !ok {
			c.add("children-index", check.PutKey(bucketChildren, key), "super network %q does not list its child %q", parent.ID, n.ID, check.Key{Bucket: bucketChildren, Key: key})
		}
		for _, p := range n.Prefixes {
			pp := parentPrefixOf(parent, p)
			got, err := ipam.GetPrefix(tx, p)
			if err != nil {
				continue // reported above
			}
			if !pp.IsValid() || got.Parent != pp {
				c.add("parent", nil, "child network %q: prefix %s is registered under %s, not under a prefix of its parent %q", n.ID, p, got.Parent, parent.ID, networkKey(n.ID))
			}
		}
	}
	return nil
}

// machineIndex checks that every entry of the machine index names an IP
// bound to that machine, in batches.
func (c *checker) machineIndex(ctx context.Context) error {
	return c.col.ScanBatches(ctx, c.store, bucketMachineIPs, checkBatch, func(tx backends.Tx, batch []check.KeyValue) error {
		type entry struct {
			key  []byte
			id   string
			addr netip.Addr
		}
		entries := make([]entry, 0, len(batch))
		var keys [][]byte
		for _, kv := range batch {
			id, rest, ok := splitPair(kv.Key)
			a, isAddr := addrOfKey([]byte(rest))
			if !ok || !isAddr {
				c.add("machine-index", check.DeleteKey(bucketMachineIPs, kv.Key), "corrupt machine index key %x", kv.Key, check.Key{Bucket: bucketMachineIPs, Key: kv.Key})
				continue
			}
			entries = append(entries, entry{kv.Key, id, a})
			keys = append(keys, []byte(rest))
		}
		records := make([][]byte, len(keys))
		err := backends.GetMany(tx, bucketIPs, keys, func(i int, v []byte) error {
			records[i] = v
			return nil
		})
		if err != nil {
			return err
		}
		for i, e := range entries {
			var ip *IP
			if records[i] != nil {
				ip, _, err = decodeIPAt(e.addr, records[i])
			}
			switch {
			case records[i] == nil || (err == nil && !slices.Contains(machineIDs(ip), e.id)):
				c.add("machine-index", check.DeleteKey(bucketMachineIPs, e.key), "the machine index binds ip %s to machine %q, which its record does not", e.addr, e.id, check.Key{Bucket: bucketMachineIPs, Key: e.key})
			case err != nil && !errors.Is(err, ErrCorrupt):
				return err
			}
		}
		return nil
	})
}

// view runs fn in a View of the store (see check.Collector.View).
func (c *checker) view(ctx context.Context, fn func(tx backends.Tx) error) error {
	return c.col.View(ctx, c.store, fn)
}

// prefixIPs compares the IP records in prefix p of network id with the
// addresses ipam holds taken, in batches of checkBatch records.
func (c *checker) prefixIPs(ctx context.Context, id string, p netip.Prefix) error {
	cursor := p.Addr()
	for {
		var next netip.Addr
		done := true
		err := c.view(ctx, func(tx backends.Tx) error {
			next, done = netip.Addr{}, true
			if _, err := GetTx(tx, id); err != nil {
				return ignoreGone(err)
			}
			u, err := ipam.GetUsage(tx, p)
			if err != nil {
				return ignoreGone(err)
			}
			if u.UsedChildren.Sign() > 0 {
				return nil // a prefix with children holds no IPs
			}
			records := map[netip.Addr]*IP{}
			var last netip.Addr
			err = tx.Ascend(bucketIPs, ipKey(cursor), func(k, v []byte) (bool, error) {
				a, ok := addrOfKey(k)
				if !ok || !p.Contains(a) {
					return false, nil
				}
				ip, _, err := decodeIPAt(a, v)
				if err != nil {
					return true, nil // reported by ipRecords
				}
				records[ip.IPAddress] = ip
				last = ip.IPAddress
				if len(records) == checkBatch {
					done = false
					return false, nil
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			inRange := func(a netip.Addr) bool { return done || a.Compare(last) <= 0 }
			taken := map[netip.Addr]bool{}
			err = ipam.EachTaken(tx, p, cursor, func(a netip.Addr) (bool, error) {
				if !inRange(a) {
					return false, nil
				}
				taken[a] = true
				if _, ok := records[a]; !ok {
					c.add("orphaned-address", releaseAddress(p, a), "address %s is taken in ipam prefix %s of network %q, but no ip holds it", a, p, id,
						check.Key{Bucket: ipam.AddressBucket(p), Key: []byte(a.String())})
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			for a, ip := range records {
				if !taken[a] {
					// Not among the taken addresses EachTaken lists: free,
					// unless reserved.
					isTaken, err := ipam.IsTaken(tx, p, a)
					if err != nil {
						return err
					}
					if !isTaken {
						c.add("free-held", acquireAddress(p, a), "ip %s of network %q is free in ipam prefix %s: it could be handed out twice", a, ip.NetworkID, p,
							check.Key{Bucket: bucketIPs, Key: ipKey(a)})
					}
				}
				if ip.NetworkID != id {
					c.add("ip-network", nil, "ip %s lies in prefix %s of network %q but belongs to network %q", a, p, id, ip.NetworkID,
						check.Key{Bucket: bucketIPs, Key: ipKey(a)})
				}
			}
			if !done {
				next = last.Next()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if done || !next.IsValid() {
			return nil
		}
		cursor = next
	}
}

// ignoreGone turns "deleted meanwhile" into nil.
func ignoreGone(err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ipam.ErrNotFound) {
		return nil
	}
	return err
}

// acquireAddress marks an address held by an IP as taken in ipam, unless
// it was taken meanwhile.
func acquireAddress(p netip.Prefix, a netip.Addr) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		taken, err := ipam.IsTaken(tx, p, a)
		if err != nil || taken {
			return err
		}
		return ipam.AcquireSpecificIP(tx, p, a)
	}
}

// releaseAddress gives an orphaned address back, unless an IP holds it by
// now.
func releaseAddress(p netip.Prefix, a netip.Addr) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		if ok, err := backends.Has(tx, bucketIPs, ipKey(a)); err != nil || ok {
			return err
		}
		taken, err := ipam.IsTaken(tx, p, a)
		if err != nil || !taken {
			return err
		}
		return ipam.ReleaseIP(tx, p, a)
	}
}

// ipRecords checks every IP record against its network, in batches.
func (c *checker) ipRecords(ctx context.Context) error {
	return c.col.ScanBatches(ctx, c.store, bucketIPs, checkBatch, func(tx backends.Tx, batch []check.KeyValue) error {
		type record struct {
			key  []byte
			ip   *IP
			from netip.Prefix
		}
		records := make([]record, 0, len(batch))
		var reads []backends.Read
		for _, kv := range batch {
			a, ok := addrOfKey(kv.Key)
			if !ok {
				c.add("record", nil, "ip key %x is no address", kv.Key, check.Key{Bucket: bucketIPs, Key: kv.Key})
				continue
			}
			ip, from, err := decodeIPAt(a, kv.Value)
			if err != nil {
				c.add("record", nil, "ip %s does not decode: %v", a, err, check.Key{Bucket: bucketIPs, Key: kv.Key})
				continue
			}
			records = append(records, record{kv.Key, ip, from})
			for _, id := range machineIDs(ip) {
				reads = append(reads, backends.ReadKey(bucketMachineIPs, machineIPKey(id, a)))
			}
		}
		if err := backends.Prefetch(tx, reads...); err != nil {
			return err
		}
		nets := map[string]*Network{}
		for _, r := range records {
			ip, k := r.ip, r.key
			nw, ok := nets[ip.NetworkID]
			if !ok {
				var err error
				nw, err = GetTx(tx, ip.NetworkID)
				if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) {
					return err
				}
				nets[ip.NetworkID] = nw
			}
			for _, id := range machineIDs(ip) {
				key := machineIPKey(id, ip.IPAddress)
				if ok, err := backends.Has(tx, bucketMachineIPs, key); err != nil {
					return err
				} else if !ok {
					c.add("machine-index", check.PutKey(bucketMachineIPs, key), "ip %s is bound to machine %q but the machine index lacks it", ip.IPAddress, id, check.Key{Bucket: bucketMachineIPs, Key: key})
				}
			}
			if nw == nil {
				c.add("ip-network", nil, "ip %s names the missing network %q", ip.IPAddress, ip.NetworkID, check.Key{Bucket: bucketIPs, Key: k})
				continue
			}
			if p, ok := prefixContaining(nw, ip.IPAddress); !ok {
				c.add("ip-prefix", nil, "ip %s lies in no prefix of its network %q", ip.IPAddress, nw.ID, check.Key{Bucket: bucketIPs, Key: k})
			} else if p != r.from {
				c.add("ip-prefix", nil, "ip %s names prefix %s, but lies in %s of its network %q", ip.IPAddress, r.from, p, nw.ID, check.Key{Bucket: bucketIPs, Key: k})
			}
		}
		return nil
	})
}

// indexes checks the index entries that name networks and IPs.
func (c *checker) indexes(tx backends.Tx) error {
	for _, idx := range []struct {
		bucket, kind string
		is           func(*Network) bool
	}{{bucketSuper, "super", func(n *Network) bool { return n.PrivateSuper }}, {bucketUnderlay, "underlay", func(n *Network) bool { return n.Underlay }}} {
		err := tx.Ascend(idx.bucket, nil, func(k, v []byte) (bool, error) {
			n, err := GetTx(tx, string(v))
			switch {
			case errors.Is(err, ErrNotFound) || (err == nil && !idx.is(n)):
				c.add("partition-index", check.DeleteKey(idx.bucket, k), "partition %q names %q as its %s network, which is none", k, v, idx.kind, check.Key{Bucket: idx.bucket, Key: k})
			case err != nil && !errors.Is(err, ErrCorrupt):
				return false, err
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	err := tx.Ascend(bucketChildren, nil, func(k, _ []byte) (bool, error) {
		parent, child, ok := splitPair(k)
		if !ok {
			c.add("children-index", check.DeleteKey(bucketChildren, k), "corrupt child index key %x", k, check.Key{Bucket: bucketChildren, Key: k})
			return true, nil
		}
		n, err := GetTx(tx, child)
		switch {
		case errors.Is(err, ErrNotFound) || (err == nil && n.ParentNetworkID != parent):
			c.add("children-index", check.DeleteKey(bucketChildren, k), "super network %q lists %q as a child, which is not its child", parent, child, check.Key{Bucket: bucketChildren, Key: k})
		case err != nil && !errors.Is(err, ErrCorrupt):
			return false, err
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return nil
}

// vrfs compares the VRF use counts and the pool with the networks.
func (c *checker) vrfs(tx backends.Tx) error {
	users := map[uint32]uint32{}
	err := tx.Ascend(bucketNetworks, nil, func(k, v []byte) (bool, error) {
		if n, err := decodeNetwork(string(k), v); err == nil && n.VRF != 0 {
			users[n.VRF]++
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	refs := map[uint32]uint32{}
	err = tx.Ascend(bucketVRF, nil, func(k, v []byte) (bool, error) {
		if len(k) != 4 || len(v) != 4 {
			c.add("vrf-count", check.DeleteKey(bucketVRF, k), "corrupt vrf count %x -> %x", k, v, check.Key{Bucket: bucketVRF, Key: k})
			return true, nil
		}
		refs[binary.BigEndian.Uint32(k)] = binary.BigEndian.Uint32(v)
		return true, nil
	})
	if err != nil {
		return err
	}
	for vrf, n := range users {
		if refs[vrf] != n {
			c.add("vrf-count", setVRFCount(vrf, n), "vrf %d is used by %d networks, its count says %d", vrf, n, refs[vrf], check.Key{Bucket: bucketVRF, Key: vrfKey(vrf)})
		}
	}
	for vrf, n := range refs {
		if users[vrf] == 0 {
			c.add("vrf-count", setVRFCount(vrf, 0), "vrf %d is counted %d times but no network uses it", vrf, n, check.Key{Bucket: bucketVRF, Key: vrfKey(vrf)})
		}
	}
	if _, err := ipam.GetPool(tx, vrfPool); errors.Is(err, ipam.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	taken := map[uint32]bool{}
	err = ipam.EachTakenInt(tx, vrfPool, func(v uint64) (bool, error) {
		taken[uint32(v)] = true
		if users[uint32(v)] == 0 {
			c.add("vrf-pool", releaseVRFValue(uint32(v)), "vrf %d is taken in the pool but no network uses it", v, check.Key{Bucket: ipam.PoolBucket(vrfPool)})
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for vrf := range users {
		if !taken[vrf] {
			c.add("vrf-pool", takeVRFValue(vrf), "vrf %d is used by networks but free in the pool", vrf, check.Key{Bucket: ipam.PoolBucket(vrfPool)})
		}
	}
	return nil
}

func setVRFCount(vrf, n uint32) func(tx backends.Tx) error {
	return func(tx backends.Tx) error { return setVRFRefs(tx, vrf, n) }
}

func releaseVRFValue(vrf uint32) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		if n, err := vrfRefs(tx, vrf); err != nil || n > 0 {
			return err
		}
		return ipam.ReleaseInt(tx, vrfPool, uint64(vrf))
	}
}

func takeVRFValue(vrf uint32) func(tx backends.Tx) error {
	return func(tx backends.Tx) error {
		err := ipam.AcquireSpecificInt(tx, vrfPool, uint64(vrf))
		if errors.Is(err, ipam.ErrAlreadyAllocated) {
			return nil
		}
		return err
	}
}
