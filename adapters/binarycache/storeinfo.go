package binarycache

import (
	"context"

	"buildledger/web"
)

// StoreInfo reads the local store for the web (web.Store): validity,
// closures and exports as LocalStore reads them, and path metadata in
// the web's terms.
type StoreInfo struct{ LocalStore }

var _ web.Store = StoreInfo{}

// Infos implements web.Store.
func (s StoreInfo) Infos(ctx context.Context, storePaths ...string) ([]web.StorePathInfo, error) {
	infos, err := s.PathInfos(ctx, storePaths...)
	if err != nil {
		return nil, err
	}
	out := make([]web.StorePathInfo, len(infos))
	for i, info := range infos {
		out[i] = web.StorePathInfo{Path: info.StorePath, References: info.References, Deriver: info.Deriver,
			NarHash: info.NarHash, NarSize: info.NarSize}
	}
	return out, nil
}
