package schema

import (
	"context"
	"errors"
	"strings"

	"entgo.io/ent"

	"github.com/entcachemodel/entcachemodel/internal/broad/broadtype"
	gen "github.com/entcachemodel/entcachemodel/internal/broad/ent"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/hook"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/intercept"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/post"
	"github.com/entcachemodel/entcachemodel/internal/broad/ent/privacy"
)

// Hooks of the Account: the entity that creates and single updates return
// has its Sensitive password blanked (the database keeps it), and names are
// changed in the mutation, to lower case.
func (Account) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(func(next ent.Mutator) ent.Mutator {
			return hook.AccountFunc(func(ctx context.Context, m *gen.AccountMutation) (ent.Value, error) {
				v, err := next.Mutate(ctx, m)
				if a, ok := v.(*gen.Account); ok && a != nil {
					a.Password = ""
				}
				return v, err
			})
		}, ent.OpCreate|ent.OpUpdateOne),
		// Names are stored in lower case, whatever the caller set.
		hook.On(func(next ent.Mutator) ent.Mutator {
			return hook.AccountFunc(func(ctx context.Context, m *gen.AccountMutation) (ent.Value, error) {
				if name, ok := m.Name(); ok {
					m.SetName(strings.ToLower(name))
				}
				return next.Mutate(ctx, m)
			})
		}, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne),
	}
}

// Hooks of the Group: a write that names a group "forbidden" fails before
// it reaches the database, and bulk deletes of groups are rejected.
func (Group) Hooks() []ent.Hook {
	return []ent.Hook{
		hook.On(func(next ent.Mutator) ent.Mutator {
			return hook.GroupFunc(func(ctx context.Context, m *gen.GroupMutation) (ent.Value, error) {
				if name, ok := m.Name(); ok && name == "forbidden" {
					return nil, errors.New("groups may not be called forbidden")
				}
				return next.Mutate(ctx, m)
			})
		}, ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne),
		hook.Reject(ent.OpDelete),
	}
}

// Interceptors of the Post: soft-deleted posts are hidden from every
// query, unless the context skips it (broadtype.SkipSoftDelete).
func (Post) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraversePost(func(ctx context.Context, q *gen.PostQuery) error {
			if !broadtype.SoftDeleteSkipped(ctx) {
				q.Where(post.Deleted(false))
			}
			return nil
		}),
	}
}

// Policy of the Tag: writes are refused in a read-only context, reads in a
// write-only one.
func (Tag) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{
			privacy.MutationRuleFunc(func(ctx context.Context, _ gen.Mutation) error {
				if broadtype.IsReadOnly(ctx) {
					return privacy.Denyf("tag writes are refused in a read-only context")
				}
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Query: privacy.QueryPolicy{
			privacy.QueryRuleFunc(func(ctx context.Context, _ gen.Query) error {
				if broadtype.IsWriteOnly(ctx) {
					return privacy.Denyf("tag queries are refused in a write-only context")
				}
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
	}
}
