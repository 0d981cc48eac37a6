// Package entcachemodel is the runtime of the publish-model cache for ent:
// every committed write is published to Redis, with no expiry, before the
// write returns, and typed read helpers serve from Redis with the database
// as fallback.
//
// Applications create one Cache and pass it to their ent client:
//
//	cache := entcachemodel.New(rdb, entcachemodel.WithPrefix("myapp"))
//	client := ent.NewClient(ent.Driver(drv), ent.CacheModel(cache))
//
// The generated code (see package cachegen) calls Schema.Mutate from a
// mutation hook and Schema.Reader from client.T.Cached().
//
// # Consistency
//
// Each cached value has a lease key beside it (same Redis Cluster slot). A
// writer adds a token to it before its database write ("mark"); a reader
// that misses adds one before reading the database ("lease"). A value is
// stored only by the holder of the latest token, so a publish or fill that
// read the database before a later write began is refused, and a refused
// publish removes the value instead. A mark also bounds the life of the
// current value to the lease, so a process that dies between its commit and
// its publish leaves a stale value for at most one lease.
package entcachemodel
