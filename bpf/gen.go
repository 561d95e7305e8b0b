package bpf

// Regenerate the committed runqlat_bpfel.{go,o} (needs clang and vmlinux.h):
//
//	go generate ./bpf
//
//go:generate go tool bpf2go -target bpfel -type event -type batch -type name_event -type carrier -no-global-types runqlat runqlat.bpf.c -- -I. -O2 -g -Wall -Werror
