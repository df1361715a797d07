package ipel

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtocolCode is the multiaddr code of /ipel, from the private-use range
// (0x300000-0x3FFFFF). Code 406 is Textile's /thread and is not reused.
const ProtocolCode = 0x3001e1

// ProtocolName is the multiaddr name of the log protocol.
const ProtocolName = "ipel"

func init() {
	if err := ma.AddProtocol(ma.Protocol{
		Name:       ProtocolName,
		Code:       ProtocolCode,
		VCode:      ma.CodeToVarint(ProtocolCode),
		Size:       ma.LengthPrefixedVarSize,
		Transcoder: logTranscoder{},
	}); err != nil {
		panic(fmt.Sprintf("register /%s multiaddr protocol: %v", ProtocolName, err))
	}
}

type logTranscoder struct{}

func (logTranscoder) StringToBytes(s string) ([]byte, error) {
	id, err := ParseLogID(s)
	if err != nil {
		return nil, err
	}
	return []byte(id), nil
}

func (logTranscoder) BytesToString(b []byte) (string, error) {
	id, err := LogIDFromBytes(b)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

func (logTranscoder) ValidateBytes(b []byte) error {
	_, err := LogIDFromBytes(b)
	return err
}

// LogMultiaddr returns the /ipel/<log> component for a log.
func LogMultiaddr(id LogID) (ma.Multiaddr, error) {
	c, err := ma.NewComponent(ProtocolName, id.String())
	if err != nil {
		return nil, fmt.Errorf("log multiaddr %s: %w", id, err)
	}
	return ma.Multiaddr{*c}, nil
}

// LogAddr is where a log can be fetched: a peer (with its transport
// addresses, possibly none) and the log.
type LogAddr struct {
	Peer peer.AddrInfo
	Log  LogID
}

// Multiaddrs returns one full address per transport address
// (/ip4/.../tcp/.../p2p/<peer>/ipel/<log>), or /p2p/<peer>/ipel/<log> when
// the peer's transport addresses are unknown.
func (a LogAddr) Multiaddrs() ([]ma.Multiaddr, error) {
	logPart, err := LogMultiaddr(a.Log)
	if err != nil {
		return nil, err
	}
	p2pAddrs, err := peer.AddrInfoToP2pAddrs(&a.Peer)
	if err != nil {
		return nil, fmt.Errorf("log address of %s: %w", a.Log, err)
	}
	out := make([]ma.Multiaddr, 0, len(p2pAddrs))
	for _, p := range p2pAddrs {
		out = append(out, p.Encapsulate(logPart))
	}
	return out, nil
}

// SplitLogAddr splits a log address into the peer part (to dial) and the log
// ID. The address must end in /p2p/<peer>/ipel/<log>.
func SplitLogAddr(addr ma.Multiaddr) (peer.AddrInfo, LogID, error) {
	peerPart, last := ma.SplitLast(addr)
	if last == nil || last.Code() != ProtocolCode {
		return peer.AddrInfo{}, "", fmt.Errorf("log address %s: does not end in /%s/<log-id>", addr, ProtocolName)
	}
	logID, err := LogIDFromBytes(last.RawValue())
	if err != nil {
		return peer.AddrInfo{}, "", fmt.Errorf("log address %s: %w", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(peerPart)
	if err != nil {
		return peer.AddrInfo{}, "", fmt.Errorf("log address %s: peer part: %w", addr, err)
	}
	return *info, logID, nil
}

// ParseLogAddr parses the text form of a log address.
func ParseLogAddr(s string) (peer.AddrInfo, LogID, error) {
	addr, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, "", fmt.Errorf("log address %q: %w", s, err)
	}
	return SplitLogAddr(addr)
}
