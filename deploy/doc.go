// Package deploy holds no code: its tests check the deployment files beside
// it (kubernetes/, prometheus/, grafana/) and those in systemd/ and the
// Dockerfile against what syncd expects of them: flags, paths, credential
// names, ports and metric names.
package deploy
