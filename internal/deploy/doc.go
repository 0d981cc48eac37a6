// Package deploy runs two generated versions of one schema (v1/ent and
// v2/ent, one table) against one database and one Redis, as a rolling
// deploy and its rollback do: processes of both versions write and read the
// same rows while they join and leave, and every cached answer of both is
// then compared with the database (deploy_test.go).
//
// The versions differ as deploys make them differ: v2 adds an Optional field
// with a list on it (nick), its JSON profile gains a member (zip), it drops
// a list v1 has (team) and adds one (level).
package deploy
