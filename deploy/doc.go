// Package deploy holds the deployment files of jschedlat: a systemd unit
// (jschedlat.service) and a Kubernetes DaemonSet (daemonset.yaml), whose
// image the Dockerfile at the top of the repository builds. It has no code:
// its test keeps the files consistent with each other and with the flags of
// `jschedlat attach`. See README.md in this directory.
package deploy
