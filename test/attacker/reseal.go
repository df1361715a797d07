package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/codec/codectest"
	"github.com/kubo-threads/kubo-threads/ipel"
)

func init() {
	register("reseal", "follower: pull the inviter's latest event, seal it again, push the copy to a target", reseal)
}

// reseal plays a follower that seals a writer's event again and pushes the
// copy to another member before the genuine one gets there:
//
//  1. it listens and writes its address to -addr-file, for the test to
//     run `ipfs threads follower add <thread> <address>` on the writer;
//  2. it takes the follow invite, and waits for -target-file to hold the
//     address of the member to attack;
//  3. it pulls the inviter's log at -seq (its head when 0) from the
//     inviter, seals the event again (envelope version 3, under a nonce of
//     its own), and pushes the copy to the target.
//
// It prints the genuine CID and the copy's.
func reseal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reseal", flag.ContinueOnError)
	addrFile := fs.String("addr-file", "", "write this peer's address here once it listens")
	targetFile := fs.String("target-file", "", "wait for the target's address in this file")
	logFlag := fs.String("log", "", "the log to take the event from (default: the one log the invite lists at the inviter)")
	seq := fs.Uint64("seq", 0, "the event of the log to seal again (0: its head at the inviter)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addrFile == "" || *targetFile == "" {
		return fmt.Errorf("-addr-file and -target-file are required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	p, err := newSyncPeer("/ip4/127.0.0.1/tcp/0")
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.writeAddr(*addrFile); err != nil {
		return err
	}
	inv, err := p.firstInvite(ctx)
	if err != nil {
		return err
	}
	inviter, logID, err := inviterLog(inv, *logFlag)
	if err != nil {
		return err
	}
	target, err := waitFile(ctx, *targetFile)
	if err != nil {
		return err
	}
	to, err := peer.AddrInfoFromString(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}

	if *seq == 0 {
		resp, err := p.request(ctx, inviter, inv, &codec.Message{Type: codec.MsgHeads})
		if err != nil {
			return fmt.Errorf("heads of the inviter: %w", err)
		}
		for _, h := range resp.Heads {
			if ipel.LogID(h.Log) == logID {
				*seq = h.Seq
			}
		}
		if *seq == 0 {
			return fmt.Errorf("the inviter holds no event of its log %s", logID)
		}
	}
	resp, err := p.request(ctx, inviter, inv, &codec.Message{Type: codec.MsgPull, Log: []byte(logID), From: *seq, Max: 1})
	if err != nil || len(resp.Events) == 0 {
		return fmt.Errorf("pull event %d of %s: %v", *seq, logID, err)
	}
	genuine, err := eventBlock(resp.Events[0])
	if err != nil {
		return err
	}
	follow, err := codec.KeyFromBytes(inv.Follow)
	if err != nil {
		return err
	}
	ev, err := codec.Open(genuine, follow)
	if err != nil {
		return fmt.Errorf("open the pulled event: %w", err)
	}
	copied, err := codectest.Reseal(ev, follow, codec.EnvelopeVersion)
	if err != nil {
		return err
	}
	if _, err := p.request(ctx, *to, inv, &codec.Message{Type: codec.MsgPush, Events: [][]byte{copied.RawData()}}); err != nil {
		return fmt.Errorf("push the copy to %s: %w", to.ID, err)
	}
	fmt.Printf("genuine %s\ncopy %s\nseq %d\nlog %s\ntarget %s\n", genuine.Cid(), copied.Cid(), ev.Seq, logID, to.ID)
	return nil
}

// inviterLog returns where the inviter is and the log to attack: want, or
// the one log the invite lists at the inviter.
func inviterLog(inv *codec.Invite, want string) (peer.AddrInfo, ipel.LogID, error) {
	var at peer.AddrInfo
	var logs []ipel.LogID
	for _, raw := range inv.Addrs {
		a, err := ma.NewMultiaddrBytes(raw)
		if err != nil {
			continue
		}
		info, logID, err := ipel.SplitLogAddr(a)
		if err != nil || string(info.ID) != string(inv.Inviter) {
			continue
		}
		at.ID = info.ID
		at.Addrs = append(at.Addrs, info.Addrs...)
		if (want == "" || logID.String() == want) && !slices.Contains(logs, logID) {
			logs = append(logs, logID)
		}
	}
	switch {
	case at.ID == "":
		return at, "", fmt.Errorf("the invite lists no address of its inviter")
	case len(logs) == 0:
		return at, "", fmt.Errorf("the invite lists no log %q at its inviter", want)
	case len(logs) > 1:
		return at, "", fmt.Errorf("the invite lists several logs at its inviter (%v): choose one with -log", logs)
	}
	return at, logs[0], nil
}

func eventBlock(data []byte) (blocks.Block, error) {
	c, err := cid.Prefix{Version: 1, Codec: codec.EventCodec, MhType: 0x12, MhLength: -1}.Sum(data)
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}
