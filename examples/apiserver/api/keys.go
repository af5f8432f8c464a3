package api

// The server's keys in the kit's store. Each kind of entity has a bucket of
// its own, apart from the library's buckets; the key is the entity's id
// (UTF-8, at most limits.MaxID bytes, never empty), the value the entity as
// JSON in the shape metal-api answers with, so a list is one ordered scan
// in id order.
const (
	// bucketPartition holds partitions: id -> partition.
	bucketPartition = "apiserver/partition"
	// bucketProject holds projects: meta.id -> project.
	bucketProject = "apiserver/project"
	// bucketImage holds images: id -> image.
	bucketImage = "apiserver/image"
	// bucketFilesystemLayout holds filesystem layouts: id -> layout.
	bucketFilesystemLayout = "apiserver/filesystemlayout"
)

// Buckets returns every bucket the server writes, for tools that dump or
// migrate the store.
func Buckets() []string {
	return []string{bucketPartition, bucketProject, bucketImage, bucketFilesystemLayout}
}
