package testenv

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrInjected is the error of an injected Redis fault.
var ErrInjected = errors.New("testenv: injected redis fault")

// Faults is a go-redis hook that injects faults into one client: every
// command fails while Down is set, and each round trip may be delayed by up
// to MaxDelay.
type Faults struct {
	Down     atomic.Bool
	maxDelay atomic.Int64
}

// SetMaxDelay sets the longest random delay of a round trip.
func (f *Faults) SetMaxDelay(d time.Duration) { f.maxDelay.Store(int64(d)) }

func (f *Faults) delay() error {
	if d := f.maxDelay.Load(); d > 0 {
		time.Sleep(time.Duration(rand.Int64N(d)))
	}
	if f.Down.Load() {
		return ErrInjected
	}
	return nil
}

// DialHook implements redis.Hook.
func (f *Faults) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

// ProcessHook implements redis.Hook.
func (f *Faults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := f.delay(); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (f *Faults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := f.delay(); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}
