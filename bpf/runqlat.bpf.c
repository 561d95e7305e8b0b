//go:build ignore

// Run-queue latency per thread, accounted the way the kernel's own schedstat
// run_delay is (kernel/sched/stats.h): a wait starts when a task is enqueued
// (wakeup, or switched out while still TASK_RUNNING) and ends when it is
// switched in, and both ends are read from the run queue's clock, the clock
// the scheduler itself uses (see rq_clock below). A wait whose start we did
// not see is measured from the scheduler's own stamp (see handle_switch).
// Every hook has one shared handler and two entry points: tp_btf (direct,
// verifier-checked field loads) and raw_tp (CO-RE probe reads) for kernels
// where tp_btf does not load.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define TASK_RUNNING 0
#define TASK_COMM_LEN 16

enum kind {
	KIND_SILENT = 0, // stored start of a wait whose kind is not wanted
	KIND_WAKEUP = 1,
	KIND_WAKEUP_NEW = 2,
	KIND_PREEMPT = 3,
	KIND_YIELD = 4,
	KIND_EXIT = 5,
	KIND_BIRTH = 6,	 // lifecycle: a thread of the target was created
	KIND_RENAME = 7, // lifecycle: a thread of the target set its own name
	KIND_VMOP_BEGIN = 8, // a HotSpot VM operation began (USDT); comm: its name
	KIND_VMOP_END = 9,   // and ended
	KIND_THREAD_START = 10, // a Java thread started (USDT); name follows the event
	KIND_THREAD_NAME = 11,	// a thread named itself (os::set_native_thread_name); name follows
};

// Set from user space before load; the verifier sees them as constants and
// prunes the branches they disable.
const volatile u32 targ_tgid = 0;	  // 0 = all tasks (or the set below)
const volatile u32 targ_set = 0;	  // 1: trace the tgids marked in targets
const volatile u32 self_tgid = 0;	  // the tracer: never recorded
const volatile u64 min_ns = 0;		  // shorter waits are not emitted
const volatile u32 kinds = 0xffffffff;	  // bit (1 << kind) per wanted kind
const volatile u64 wakeup_bytes = 1 << 20; // wake the reader above this backlog
const volatile u64 nr_sched_yield = 24;	  // __NR_sched_yield of the kernel's arch
const volatile u64 max_hold_jiffies = 5; // a staged event is sent within this
const volatile u32 slot_mask = 32767;	  // slots' size - 1 (a power of two)
// Where hotspot:vmops__begin / vmops__end find their first argument, the VM
// operation's name (a char *): a register, given as its byte offset in
// struct pt_regs, dereferenced at disp when mem is set. Set from the
// probe's note by the loader.
const volatile u32 vmop_begin_reg = 0, vmop_end_reg = 0;
const volatile u32 vmop_begin_mem = 0, vmop_end_mem = 0;
const volatile s64 vmop_begin_disp = 0, vmop_end_disp = 0;
// hotspot:thread__start: its name (a char *) and the name's length.
const volatile u32 ts_name_reg = 0, ts_name_mem = 0, ts_len_reg = 0, ts_len_mem = 0, ts_len_size = 4;
const volatile s64 ts_name_disp = 0, ts_len_disp = 0;
// 1: read, at each switch-out of a thread registered in carriers, the
// virtual thread it has mounted (0 prunes all of it).
const volatile u32 vthreads = 0;

// One cache line per slot: threads of one process have neighbouring TIDs
// and run on different CPUs, and slots sharing a line made every access
// bounce it between CPUs (+30 ns per call in a context-switch storm).
struct start {
	u64 clock; // rq clock at enqueue; 0 = empty
	u32 tid;   // whose start this is (slots are shared, see below)
	u16 queued_cpu;
	u8 kind;
	u8 pad0;
	u64 off;     // rq clock of off_tid's last switch-out
	u32 off_tid; // whose switch-out off is; 0 = none
	u32 rd_tid;  // whose run_delay rd is; 0 = none
	u64 rd;	     // rd_tid's run_delay once its last switch-in was added
	u64 rd_at;   // that switch-in's rq clock (what last_arrival became)
	// off_tid << 32 | the Java id of the virtual thread it had mounted at
	// that switch-out (0: none or unknown). One 8-byte store: two threads
	// sharing the slot cannot leave one's id under the other's TID.
	u64 vt;
	u8 pad[8];
} __attribute__((aligned(64)));

struct event {
	u64 ts;
	u64 latency;
	u32 pid;
	u32 tid;
	u32 prev_pid;
	u32 prev_tid;
	u32 cpu;
	u32 queued_cpu;
	u8 kind;
	u8 pad[7];
	char comm[TASK_COMM_LEN];
	char prev_comm[TASK_COMM_LEN];
	u64 off_cpu; // ns since the thread's previous switch-out; 0 = unknown
	u64 vthread; // Java id of the virtual thread it had mounted then; 0 = none/unknown
};

// A thread-start record: the event, then the thread's Java name as HotSpot
// holds it (modified UTF-8). Its latency field is the length HotSpot gave,
// prev_pid the bytes read: a longer name is cut (and not used).
#define NAME_MAX_BYTES 256
struct name_event {
	struct event e;
	char name[NAME_MAX_BYTES];
};

// Force BTF for the event type so bpf2go can generate its Go twin.
const struct event *unused_event __attribute__((unused));
const struct name_event *unused_name_event __attribute__((unused));

// Events of a sched_switch are staged per CPU and sent to the ring buffer
// BATCH at a time: a ring-buffer reservation per event (lock, header, cold
// data lines) cost ~250 ns per sched_switch call on a busy JVM, about half
// of the program. A batch also goes out when its CPU turns idle or its
// oldest event is max_hold_jiffies old; what is still staged at the end is
// read by user space after the programs are detached. Age is kept in
// jiffies: bpf_jiffies64 is a plain load, while bpf_ktime_get_ns on every
// call cost ~50 ns on a VM.
#define BATCH 16

struct batch {
	u32 n;
	u32 pad;
	u64 first; // jiffies when the oldest staged event was staged
	struct event ev[BATCH];
};

const struct batch *unused_batch __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct batch);
} staged SEC(".maps");

// The start of each thread's current wait, in the slot of its TID modulo
// the array's size (resized by the loader; 32768 x 64 B = 2 MiB by
// default). An array lookup compiles to an
// address computation: on a busy JVM this cost ~80 ns less per
// sched_switch call than task-local storage (three dependent loads) and
// ~800 ns less than a hash map. Two threads whose TIDs share a slot and
// wait at the same time are rare; the later one takes the slot and the
// other is measured from the scheduler's own stamp (counted in collisions).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32768);
	__type(key, u32);
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); // resized by the loader
} events SEC(".maps");

// Failed bpf_ringbuf_reserve calls (reader too slow or buffer too small).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} lost SEC(".maps");

// Reported waits whose start we did not see (see handle_switch).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} unobserved SEC(".maps");

// Waits whose switch-in the kernel never delivered to BPF, reported at the
// task's next switch-out (see recover).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} recovered SEC(".maps");

// Such waits found where they cannot be reported (the switch-out that would
// recover them was not delivered either): missing from the output.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} missed SEC(".maps");

// Their total latency (ns): the run-queue time missing from the output.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} missed_ns SEC(".maps");

// Starts that replaced the live start of another thread in a shared slot.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} collisions SEC(".maps");

// A JVM thread that may carry virtual threads, in the slot of its TID
// modulo the array's size (slot_mask, as starts): where its JavaThread is
// and how to read, from its own memory, the virtual thread it has mounted
// (hsmem.BPFLayout; JDK 21+, the fields are OopHandles). Only user space
// writes an entry, except that a thread's exit empties its own. User space
// changes an entry's owner through an empty entry, so a reader that sees
// the same tid before and after reading the rest read one owner's entry.
struct carrier {
	u32 tid;  // whose entry; 0 = none
	u32 tgid; // its process
	u64 jt;	  // its JavaThread
	s64 java_id; // its own java.lang.Thread.tid
	u16 vthread_off;   // JavaThread::_vthread
	u16 threadobj_off; // JavaThread::_threadObj
	u16 tid_off;	   // java.lang.Thread.tid
	u16 vtcarrier_off; // ZGC: VirtualThread.carrierThread (0: unknown)
	u8 zgc;		   // 0 plain oops; ZGC: 1 one generation, 2 generational
	u8 pad[7];
	u64 zoffset_mask; // zgc 1: the offset bits of an oop
	u64 zview;	   // zgc 1: the colour of a mapped heap view
	u64 zmask_at;	   // the address of the colour mask: zgc 1 the weak bad mask, 2 ZPointerLoadBadMask
	u64 zgood_at;	   // zgc 1: the address of the good mask (0: read through zview)
} __attribute__((aligned(32)));

const struct carrier *unused_carrier __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32768); // resized by the loader (1 when unused)
	__type(key, u32);
	__type(value, struct carrier);
} carriers SEC(".maps");

// The traced processes when targ_set: bit (tgid % 64) of word tgid / 64,
// for every tgid below pid_max (resized by the loader: 512 KiB for the
// 64-bit default of 4M). An array lookup is an address computation: the
// test runs twice per sched_switch of the whole host, where a hash lookup
// would cost far more. Only user space writes it.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u64);
} targets SEC(".maps");

// The targets (the one target, or those of the set) whose HotSpot
// thread__start probe is attached: their new Java threads report their own
// names, so their births need not wake the reader (see lifecycle). Same
// layout as targets; only user space writes it, after the probe attached,
// so a probe that fails leaves the safe default.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u64);
} probed SEC(".maps");

// Kernels before 5.14 call the state field "state", later ones "__state".
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

// Kernels where task_struct has cpu directly (no THREAD_INFO_IN_TASK cpu).
struct task_struct___cpu {
	unsigned int cpu;
} __attribute__((preserve_access_index));

// The syscall number a task entered the kernel with, per architecture.
struct pt_regs___x86 {
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct pt_regs___arm64 {
	int syscallno;
} __attribute__((preserve_access_index));

// RD reads a task field: a plain load for tp_btf (the pointer is trusted),
// a CO-RE probe read for raw_tp. `btf` is a literal at every call site, so
// the compiler keeps only one side.
#define RD(btf, p, field) ((btf) ? (p)->field : BPF_CORE_READ(p, field))

static __always_inline bool in_bitmap(void *map, u32 tgid)
{
	u32 word = tgid / 64;
	u64 *w = bpf_map_lookup_elem(map, &word);
	return w && (*w & (1ULL << (tgid % 64)));
}

static __always_inline bool in_set(u32 tgid)
{
	return in_bitmap(&targets, tgid);
}

// is_target tells whether tgid is a process whose threads user space names
// (one target, or one of the set): lifecycle events are sent for them.
static __always_inline bool is_target(u32 tgid)
{
	if (targ_tgid)
		return tgid == targ_tgid;
	return targ_set && tgid && in_set(tgid);
}

static __always_inline bool traced(u32 tgid)
{
	if (targ_tgid || targ_set)
		return is_target(tgid);
	// tgid 0 is only ever the idle tasks.
	return tgid && tgid != self_tgid;
}

static __always_inline bool wanted(u8 kind)
{
	return kinds & (1u << kind);
}

static __always_inline long task_state(bool btf, struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return RD(btf, t, __state);
	struct task_struct___pre514 *o = (void *)t;
	return RD(btf, o, state);
}

static __always_inline u32 task_cpu(bool btf, struct task_struct *t)
{
	if (bpf_core_field_exists(t->thread_info.cpu))
		return RD(btf, t, thread_info.cpu);
	struct task_struct___cpu *o = (void *)t;
	return RD(btf, o, cpu);
}

// task_ids reads a task's pid (thread ID) and tgid. With raw_tp each field
// is a probe-read helper call on a line that is often cold; pid and tgid
// are adjacent in every kernel so far, so one 8-byte read gets both.
static __always_inline void task_ids(bool btf, struct task_struct *t, u32 *pid, u32 *tgid)
{
	if (btf) {
		*pid = t->pid;
		*tgid = t->tgid;
		return;
	}
	u32 off = bpf_core_field_offset(t->pid);
	if (bpf_core_field_offset(t->tgid) == off + 4) {
		u32 v[2] = {};
		bpf_probe_read_kernel(v, sizeof(v), (void *)t + off);
		*pid = v[0];
		*tgid = v[1];
		return;
	}
	*pid = BPF_CORE_READ(t, pid);
	*tgid = BPF_CORE_READ(t, tgid);
}

// The run queue's clock is reachable from a task only with
// CONFIG_FAIR_GROUP_SCHED (task->se.cfs_rq->rq).
#define HAVE_RQ_CLOCK                                                          \
	(bpf_core_field_exists(((struct task_struct *)0)->se.cfs_rq) &&        \
	 bpf_core_field_exists(((struct cfs_rq *)0)->rq))

// rq_clock returns the clock of the run queue t is on: what the scheduler
// stamps enqueue (sched_info_enqueue) and switch-in (sched_info_arrive) with.
// Our hooks run under that run queue's lock right after the kernel read it,
// so per-thread sums match schedstat run_delay exactly. The monotonic clock
// would not: after a wakeup preempts the running task the scheduler skips a
// clock update (rq_clock_skip_update), which moves a few µs per such switch
// from the woken task's run_delay to the preempted task's. Where the rq is
// not reachable, fall back to the monotonic clock.
static __always_inline u64 rq_clock(bool btf, struct task_struct *t)
{
	if (HAVE_RQ_CLOCK) {
		if (btf)
			return t->se.cfs_rq->rq->clock;
		return BPF_CORE_READ(t, se.cfs_rq, rq, clock);
	}
	return bpf_ktime_get_ns();
}

// Within one sched_switch call prev and next are on the same run queue (this
// CPU's) and its clock cannot move (the rq lock is held): read it, and
// whether next runs alone, once per call. With raw_tp each read of the
// chain task->se.cfs_rq->rq->field is three probe-read helper calls: the
// rq pointer is kept too, so the clock and nr_running cost one each.
struct rq_once {
	u64 now;	// the run queue's clock, 0 until read
	struct rq *rq; // raw_tp: task->se.cfs_rq->rq, 0 until read
};

static __always_inline struct rq *raw_rq(struct rq_once *c, struct task_struct *t)
{
	if (!c->rq)
		c->rq = BPF_CORE_READ(t, se.cfs_rq, rq);
	return c->rq;
}

static __always_inline u64 rq_clock_once(bool btf, struct rq_once *c, struct task_struct *t)
{
	if (!c->now) {
		if (btf || !HAVE_RQ_CLOCK)
			c->now = rq_clock(btf, t);
		else
			c->now = BPF_CORE_READ(raw_rq(c, t), clock);
	}
	return c->now;
}

// runs_alone tells whether t, being switched in, is the only runnable task of
// its run queue: that CPU may then not switch again for a long time (an
// isolated core running one busy thread), so what it has staged must go
// out now rather than at its next switch.
static __always_inline bool runs_alone(bool btf, struct rq_once *c, struct task_struct *t)
{
	if (!HAVE_RQ_CLOCK)
		return false;
	if (btf)
		return t->se.cfs_rq->rq->nr_running <= 1;
	return BPF_CORE_READ(raw_rq(c, t), nr_running) <= 1;
}

// The scheduler's own enqueue stamp (CONFIG_SCHED_INFO), usable only in the
// rq clock domain.
#define HAVE_KERNEL_STAMP                                                      \
	(HAVE_RQ_CLOCK &&                                                      \
	 bpf_core_field_exists(((struct task_struct *)0)->sched_info.last_queued))

// kernel_stamps reads sched_info.last_queued of t (the rq clock when it was
// enqueued, 0 when it is not waiting) and last_arrival (when it last got a
// CPU); both 0 without the stamps. Adjacent: raw_tp reads both at once.
static __always_inline void kernel_stamps(bool btf, struct task_struct *t, u64 *queued, u64 *arrived)
{
	*queued = *arrived = 0;
	if (!HAVE_KERNEL_STAMP)
		return;
	if (btf) {
		*queued = t->sched_info.last_queued;
		*arrived = t->sched_info.last_arrival;
		return;
	}
	u32 off = bpf_core_field_offset(t->sched_info.last_arrival);
	if (bpf_core_field_offset(t->sched_info.last_queued) == off + 8) {
		u64 v[2] = {};
		bpf_probe_read_kernel(v, sizeof(v), (void *)t + off);
		*arrived = v[0];
		*queued = v[1];
		return;
	}
	*queued = BPF_CORE_READ(t, sched_info.last_queued);
	*arrived = BPF_CORE_READ(t, sched_info.last_arrival);
}

// stored_kind returns the kind to store for an enqueue of the given kind, or
// -1 to store nothing. An unwanted kind is still stored, silently, when the
// switch-in would otherwise take the wait for an unobserved wakeup.
static __always_inline int stored_kind(u8 kind)
{
	if (wanted(kind))
		return kind;
	if (wanted(KIND_WAKEUP) && HAVE_KERNEL_STAMP)
		return KIND_SILENT;
	return -1;
}

// runnable_kind classifies a switch-out of a still-runnable task. The
// tracepoint's `preempt` is true only for preemption inside the kernel
// (preempt_schedule, cond_resched); a user thread preempted on its way back
// to user space switches with preempt == false. So "yield" is decided from
// the syscall the task is in: sched_yield(2). prev is current here.
static __always_inline u8 runnable_kind(bool preempt)
{
	if (preempt)
		return KIND_PREEMPT;
	// Before 5.15 sched_yield cannot be told apart; preemption is by far
	// the more common case.
	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		return KIND_PREEMPT;
	struct pt_regs *regs = (void *)bpf_task_pt_regs(bpf_get_current_task_btf());
	long nr = -1;
	if (bpf_core_field_exists(((struct pt_regs___x86 *)regs)->orig_ax))
		nr = ((struct pt_regs___x86 *)regs)->orig_ax;
	else if (bpf_core_field_exists(((struct pt_regs___arm64 *)regs)->syscallno))
		nr = ((struct pt_regs___arm64 *)regs)->syscallno;
	return nr == nr_sched_yield ? KIND_YIELD : KIND_PREEMPT;
}

static __always_inline void read_comm(bool btf, char *dst, struct task_struct *t)
{
	if (btf) {
		// Two 8-byte loads inside comm[16]: cheaper than a helper call.
		const u64 *src = (const u64 *)t->comm;
		((u64 *)dst)[0] = src[0];
		((u64 *)dst)[1] = src[1];
	} else {
		bpf_probe_read_kernel(dst, TASK_COMM_LEN, &t->comm);
	}
}

static __always_inline void add(void *map, u64 n)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(map, &zero);
	if (v)
		*v += n; // per-CPU slot, no atomics needed
}

static __always_inline void count(void *map)
{
	add(map, 1);
}

static __always_inline struct start *slot(u32 tid)
{
	u32 idx = tid & slot_mask;
	return bpf_map_lookup_elem(&starts, &idx);
}

#define ONCE(x) (*(volatile typeof(x) *)&(x))

// user_u64 reads 8 bytes of the current task's memory; 0 when that faults.
static __always_inline u64 user_u64(u64 addr)
{
	u64 v = 0;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		return 0;
	return v;
}

// uncolour is the address of the object oop o points to (hsmem's
// BPFLayout.Uncolour): 0 for null, and under ZGC for an oop with a bit of
// mask (the colour mask read at zmask_at), which may point where its
// object was before it moved, memory since reused.
static __always_inline u64 uncolour_any(u8 zgc, u64 om, u64 view, u64 o);

static __always_inline u64 uncolour(u8 zgc, u64 om, u64 view, u64 mask, u64 o)
{
	if (zgc && (o & mask))
		return 0;
	return uncolour_any(zgc, om, view, o);
}

// uncolour_any is uncolour whatever the colour: where the object was when
// the oop was coloured.
static __always_inline u64 uncolour_any(u8 zgc, u64 om, u64 view, u64 o)
{
	if (!o)
		return 0;
	if (zgc == 1)
		return (o & om) | view;
	if (zgc == 2) {
		// The remapped bit set (12-15) gives the address's shift
		// (ZPointerLoadShiftTable, x86_64).
		switch ((o >> 12) & 0xf) {
		case 1:
			return o >> 13;
		case 2:
			return o >> 14;
		case 4:
			return o >> 15;
		case 8:
			return o >> 16;
		}
		return 0;
	}
	return o;
}

// mounted returns the Java id of the virtual thread that thread tid of
// tgid, the current task (at its switch-out), has mounted: 0 when none,
// when it is not a registered carrier, or when anything read does not
// check out. It reads the JavaThread's _vthread and _threadObj oops
// (through their OopHandle slots); they differ while a virtual thread is
// mounted. Checks, so that an id is never another thread's: the entry is
// the same before and after; _threadObj is still a Thread with the
// carrier's own id (not a JavaThread being torn down, its handles freed
// and reused); the _vthread slot still holds the oop the id was read from
// (a GC may move it meanwhile). Under ZGC the carrier's own oop is
// checked by its id whatever its colour; the virtual thread's oop is used
// as it is when its colour is current, else (its slot not healed yet
// after a collection began) only if the object it points to has as its
// carrierThread a Thread with the carrier's own id (wherever that copy
// is): the one mounted here (or its old copy: the same id), not what
// reused the memory. Ids that do not fit in 32 bits give 0.
static __always_inline u32 mounted(u32 tgid, u32 tid)
{
	u32 idx = tid & slot_mask;
	struct carrier *c = bpf_map_lookup_elem(&carriers, &idx);
	if (!c || ONCE(c->tid) != tid)
		return 0;
	asm volatile("" ::: "memory");
	u64 jt = c->jt;
	s64 own = c->java_id;
	u32 voff = c->vthread_off, toff = c->threadobj_off, idoff = c->tid_off;
	u32 coff = c->vtcarrier_off;
	u8 zgc = c->zgc;
	u64 om = c->zoffset_mask, view = c->zview, mask_at = c->zmask_at, good_at = c->zgood_at;
	if (c->tgid != tgid || !jt)
		return 0;
	u64 hv, ht;
	if (voff == toff + 8) {
		// Neighbours in every JDK so far: one read.
		u64 h[2] = {};
		if (bpf_probe_read_user(h, sizeof(h), (void *)(jt + toff)))
			return 0;
		ht = h[0];
		hv = h[1];
	} else {
		hv = user_u64(jt + voff);
		ht = user_u64(jt + toff);
	}
	if (!hv || !ht)
		return 0;
	u64 ov = user_u64(hv), ot = user_u64(ht);
	u64 mask = zgc ? user_u64(mask_at) : 0;
	if (zgc && !mask)
		return 0; // never 0 in a running ZGC: not read
	if (zgc == 1 && good_at) {
		// Through the view that is good now, which the JVM touches:
		// the pages of another view may be missing from its page
		// tables, and a BPF read cannot fault them in.
		u64 good = user_u64(good_at);
		if (good & ~om)
			view = good & ~om;
	}
	// Compared uncoloured: under ZGC one object's oops may differ in
	// colour.
	u64 av = uncolour(zgc, om, view, mask, ov), at = uncolour_any(zgc, om, view, ot);
	if (!av && zgc && coff && ov) {
		u64 lv = uncolour_any(zgc, om, view, ov);
		u64 ct = lv ? uncolour_any(zgc, om, view, user_u64(lv + coff)) : 0;
		if (ct && (s64)user_u64(ct + idoff) == own)
			av = lv;
	}
	if (!av || !at || av == at)
		return 0;
	s64 id;
	if (bpf_probe_read_user(&id, sizeof(id), (void *)(av + idoff)))
		return 0;
	if ((s64)user_u64(at + idoff) != own || user_u64(hv) != ov)
		return 0;
	if (id <= 0 || id > 0xffffffffLL || id == own)
		return 0;
	asm volatile("" ::: "memory");
	if (ONCE(c->tid) != tid)
		return 0;
	return id;
}

// carrier_exit empties the carriers entry of an exiting thread: its TID
// may be reused by a thread whose JavaThread is elsewhere.
static __always_inline void carrier_exit(u32 tid)
{
	u32 idx = tid & slot_mask;
	struct carrier *c = bpf_map_lookup_elem(&carriers, &idx);
	if (c && c->tid == tid)
		c->tid = 0;
}

// enqueue records the start of a wait; with keep, an existing start wins
// (the first enqueue of an already queued task, as in sched_info_enqueue)
// unless it is older than stale_before: then its wait ended at a switch-in
// we never saw, and it is counted as missed.
static __always_inline void enqueue(u32 tid, u8 kind, u32 cpu, u64 clock, bool keep,
				    u64 stale_before)
{
	struct start *s = slot(tid);
	if (!s)
		return;
	if (s->clock) {
		if (s->tid == tid) {
			if (keep) {
				if (s->clock >= stale_before)
					return;
				count(&missed);
				add(&missed_ns, stale_before - s->clock);
				// Counted: the switch-in after this one must not
				// count it again (kernel_wait).
				if (s->rd_tid == tid)
					s->rd_tid = 0;
			}
		} else {
			count(&collisions);
		}
	}
	s->clock = clock;
	s->tid = tid;
	s->queued_cpu = cpu;
	s->kind = kind;
}

// forget drops the start of tid's wait, if any.
static __always_inline void forget(u32 tid)
{
	struct start *s = slot(tid);
	if (s && s->tid == tid)
		s->clock = 0;
}

// take moves the start of tid's wait into out and empties the slot; false
// when there is none.
static __always_inline bool take(u32 tid, struct start *out)
{
	struct start *s = slot(tid);
	if (!s || !s->clock || s->tid != tid)
		return false;
	*out = *s;
	s->clock = 0;
	return true;
}

// Batched wakeups: waking the reader per event makes it preempt the traced
// threads and inflates what we measure (observer effect).
static __always_inline u64 submit_flags(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

// flush sends the staged events of this CPU as one ring-buffer record.
static __always_inline void flush(struct batch *b)
{
	u32 n = b->n;
	if (!n)
		return;
	if (n > BATCH)
		n = BATCH;
	if (bpf_ringbuf_output(&events, b->ev, n * sizeof(struct event), submit_flags()))
		add(&lost, n);
	b->n = 0;
}

static __always_inline int handle_wakeup(bool btf, struct task_struct *p, u8 kind)
{
	int stored = stored_kind(kind);
	if (stored < 0)
		return 0;
	u32 tid, tgid;
	task_ids(btf, p, &tid, &tgid);
	if (!traced(tgid) || !tid)
		return 0;
	u64 clock, arrived;
	if (HAVE_KERNEL_STAMP) {
		// The scheduler stamped the enqueue just before this tracepoint.
		// No stamp: p is running (woken on its way to sleep) and no wait
		// starts. Storing nothing then is what lets a switch-out to sleep
		// skip clearing the slot (see handle_switch).
		kernel_stamps(btf, p, &clock, &arrived);
		if (!clock)
			return 0;
	} else {
		clock = rq_clock(btf, p);
		arrived = 0;
	}
	// The first enqueue of a task that is already queued wins, as in
	// sched_info_enqueue. A new task cannot be queued yet: an entry under
	// its (reused) TID is stale.
	enqueue(tid, stored, task_cpu(btf, p), clock, kind != KIND_WAKEUP_NEW, arrived);
	return 0;
}

// kernel_wait returns t's wait as schedstat counts it, t being switched in
// at clock after waiting since queued (its last_queued). The kernel adds to
// run_delay at every dequeue of a queued task (a move to another CPU's run
// queue), restarting last_queued on the new CPU, and at the switch-in, just
// after this tracepoint. So the wait is what run_delay grew since the
// previous switch-in (rd, kept in t's slot) plus clock - queued. Our own
// start would not do: the time between the dequeue and the enqueue is not
// a wait for the kernel, and the two CPUs' run queue clocks differ (by
// ~10 us per move on a VM). Without a valid rd (a slot shared with
// another thread, or a switch-in we did not see) it returns fallback.
static __always_inline u64 kernel_wait(bool btf, struct task_struct *t, struct start *sl,
				       u32 tid, u64 queued, u64 arrived, u64 clock, u64 fallback)
{
	if (!sl)
		return fallback;
	u64 rd = RD(btf, t, sched_info.run_delay);
	u64 part = clock > queued ? clock - queued : 0;
	u64 wait = fallback;
	if (sl->rd_tid == tid && rd >= sl->rd) {
		if (sl->rd_at == arrived) {
			wait = rd - sl->rd + part;
		} else if (arrived > sl->rd_at) {
			// A switch-in at arrived and the switch-out after it
			// never reached us, nor (or we would have counted it)
			// the wakeup after that: that wait is missing.
			count(&missed);
			add(&missed_ns, rd - sl->rd);
		}
	}
	sl->rd = rd + part;
	sl->rd_at = clock;
	sl->rd_tid = tid;
	return wait;
}

// recover reports a wait of t, being switched out, that ended at its last
// switch-in (arrived, the scheduler's own stamp), a switch-in the kernel
// never delivered to us. (Some kernels skip it: on a 6.18 Firecracker guest
// about 4% of switches on one CPU, mostly from idle, reach neither BPF nor
// ftrace.) t has run on this CPU since then; the task it replaced is
// unknown (prev fields zero, prev_comm empty). Rare: sent on its own.
static __always_inline void recover(bool btf, struct task_struct *t, u32 tgid, u32 tid,
				    u8 kind, u32 queued_cpu, u64 latency, u64 arrived, u64 clock)
{
	if (kind == KIND_SILENT || !wanted(kind) || latency < min_ns)
		return;
	struct event e;
	__builtin_memset(&e, 0, sizeof(e));
	// last_arrival is on this run queue's clock: carry it to the
	// monotonic clock through the distance from this run queue's now.
	u64 ago = clock > arrived ? clock - arrived : 0;
	e.ts = bpf_ktime_get_ns() - ago;
	e.latency = latency;
	e.pid = tgid;
	e.tid = tid;
	e.cpu = bpf_get_smp_processor_id();
	e.queued_cpu = queued_cpu;
	e.kind = kind;
	read_comm(btf, e.comm, t);
	if (bpf_ringbuf_output(&events, &e, sizeof(e), submit_flags()))
		count(&lost);
	else
		count(&recovered);
}

// switched_out checks t's slot s as t leaves the CPU. A start of t's own
// there means its last switch-in never reached us: with the kernel's stamp
// no start is stored for a running task (handle_wakeup) and a switch-in
// empties the slot. So does a last_arrival other than the one the slot
// saw (then the wakeup was lost too). The wait that switch-in ended is
// what run_delay grew since the switch-in before it when the slot knows
// that, else last_arrival minus our start.
static __always_inline void switched_out(bool btf, struct task_struct *t, u32 tgid, u32 tid,
					 struct start *s, struct rq_once *now)
{
	bool mine = s->clock && s->tid == tid;
	if (!mine && s->rd_tid != tid)
		return;
	u64 queued, arrived;
	kernel_stamps(btf, t, &queued, &arrived);
	u8 kind = mine ? s->kind : KIND_WAKEUP;
	u32 queued_cpu = mine ? s->queued_cpu : bpf_get_smp_processor_id();
	if (s->rd_tid == tid && s->rd_at != arrived) {
		u64 rd = RD(btf, t, sched_info.run_delay);
		if (rd >= s->rd && arrived > s->rd_at)
			recover(btf, t, tgid, tid, kind, queued_cpu, rd - s->rd, arrived,
				rq_clock_once(btf, now, t));
		s->rd = rd;
		s->rd_at = arrived;
	} else if (mine && arrived >= s->clock) {
		recover(btf, t, tgid, tid, kind, queued_cpu, arrived - s->clock, arrived,
			rq_clock_once(btf, now, t));
	}
	if (mine)
		s->clock = 0;
}

static __always_inline int handle_switch(bool btf, bool preempt,
					 struct task_struct *prev,
					 struct task_struct *next)
{
	u32 prev_tid, prev_tgid, tgid, tid;
	struct rq_once now = {}; // the run queue, read once per call
	int alone = -1;		 // runs_alone(next), read once

	task_ids(btf, prev, &prev_tid, &prev_tgid);
	if (traced(prev_tgid)) {
		tid = prev_tid;
		if (HAVE_KERNEL_STAMP) {
			struct start *s = slot(tid);
			if (s) {
				switched_out(btf, prev, prev_tgid, tid, s, &now);
				// When it left the CPU: tells user space whether it
				// ran during an interval (virtual_thread).
				s->off = rq_clock_once(btf, &now, prev);
				s->off_tid = tid;
				if (vthreads)
					s->vt = (u64)tid << 32 | mounted(prev_tgid, tid);
			}
		}
		// sched_info_depart re-enqueues only task_is_running(prev).
		if (task_state(btf, prev) == TASK_RUNNING) {
			int stored = stored_kind(runnable_kind(preempt));
			if (stored >= 0) {
				enqueue(tid, stored, bpf_get_smp_processor_id(),
					rq_clock_once(btf, &now, prev), false, 0);
				goto next;
			}
		}
		// It left the run queue. Without the kernel's stamp a start
		// stamped while it was running (a wakeup racing with its own
		// sleep) must not survive.
		if (!HAVE_KERNEL_STAMP)
			forget(tid);
	}

next:
	task_ids(btf, next, &tid, &tgid);
	u32 zero = 0;
	struct batch *b = bpf_map_lookup_elem(&staged, &zero);
	if (!b)
		return 0; // cannot happen: a per-CPU array slot always exists
	// Send what is staged when the CPU turns idle or runs one task alone
	// (nothing else would for a while), or when it has waited long enough.
	if (b->n && (!tgid || bpf_jiffies64() - b->first >= max_hold_jiffies ||
		     (alone = runs_alone(btf, &now, next))))
		flush(b);
	if (!traced(tgid))
		return 0;

	u64 since = 0;
	u32 queued_cpu = 0;
	u8 kind = KIND_SILENT;
	bool seen = false;
	// The scheduler's own stamp, 0 when it does not count this as a wait,
	// and when next last got a CPU (0 without the stamps).
	u64 queued, arrived;
	kernel_stamps(btf, next, &queued, &arrived);
	struct start st;
	// Always taken out, or a later switch-in would report a stale start.
	if (take(tid, &st)) {
		since = st.clock;
		queued_cpu = st.queued_cpu;
		kind = st.kind;
		seen = true;
		if (HAVE_KERNEL_STAMP) {
			// A start older than the task's previous switch-in is stale:
			// that switch-in and the switch-out after it never reached
			// us, and its wait is missing.
			seen = since >= arrived;
			if (!seen) {
				count(&missed);
				add(&missed_ns, arrived - since);
			}
			// Not a wait for schedstat either: preempted while going to
			// sleep (not re-enqueued), then woken while still queued.
			if (!queued)
				return 0;
		}
	}
	if (!seen) {
		// We did not see this wait begin: it began before we attached, or
		// its enqueue or an earlier switch never reached us (on this 6.18
		// VM about 0.1-0.4% of context switches are not delivered to BPF).
		// The scheduler's own stamp measures it. It is reported as a
		// wakeup: had the task been switched out runnable, we would hold a
		// fresh start.
		if (!queued)
			return 0;
		since = queued;
		count(&unobserved);
		queued_cpu = bpf_get_smp_processor_id();
		kind = KIND_WAKEUP;
	}
	u64 clock = rq_clock_once(btf, &now, next);
	// Run queue clocks of different CPUs may disagree by a little.
	u64 latency = clock > since ? clock - since : 0;
	struct start *sl = 0;
	if (HAVE_KERNEL_STAMP) {
		// Here queued != 0 (see above). Kept up to date for every wait,
		// wanted or not.
		sl = slot(tid);
		latency = kernel_wait(btf, next, sl, tid, queued, arrived, clock, latency);
	}
	if (kind == KIND_SILENT || !wanted(kind))
		return 0;
	if (latency < min_ns)
		return 0;

	// Off the CPU since its last switch-out, if we saw it and it is not
	// older than its last switch-in (a switch-out we missed).
	// The virtual thread it had mounted then, under the same condition:
	// an id from an earlier switch-out would be stale.
	u64 off_cpu = 0, vt = 0;
	if (HAVE_KERNEL_STAMP) {
		if (sl && sl->off_tid == tid) {
			u64 off = sl->off;
			if (off && off >= arrived) {
				if (clock > off)
					off_cpu = clock - off;
				if (vthreads) {
					u64 v = sl->vt;
					if (v >> 32 == tid)
						vt = (u32)v;
				}
			}
			sl->off_tid = 0;
		}
	}

	u32 n = b->n;
	if (n >= BATCH) {
		flush(b); // not reached: a full batch is sent at once
		n = 0;
	}
	struct event *e = &b->ev[n];
	e->ts = bpf_ktime_get_ns();
	e->latency = latency;
	e->pid = tgid;
	e->tid = tid;
	e->prev_pid = prev_tgid;
	e->prev_tid = prev_tid;
	e->cpu = bpf_get_smp_processor_id();
	e->queued_cpu = queued_cpu;
	e->kind = kind;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	e->off_cpu = off_cpu;
	e->vthread = vt;
	read_comm(btf, e->comm, next);
	read_comm(btf, e->prev_comm, prev);
	if (!n)
		b->first = bpf_jiffies64();
	b->n = ++n;
	if (n == BATCH || (alone < 0 ? runs_alone(btf, &now, next) : alone))
		flush(b);
	return 0;
}

// lifecycle sends a record that changes how user space names a thread:
// creation, a change of its kernel name, its end. Only for one target
// process, where they are rare and cheap; whatever the kinds mask says.
static __always_inline void lifecycle(bool btf, struct task_struct *p, u8 kind,
				      const char *comm)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(&lost);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->pid = RD(btf, p, tgid);
	e->tid = RD(btf, p, pid);
	e->cpu = bpf_get_smp_processor_id();
	e->queued_cpu = e->cpu;
	e->kind = kind;
	if (comm)
		bpf_probe_read_kernel_str(e->comm, TASK_COMM_LEN, comm);
	else
		read_comm(btf, e->comm, p);
	// Never staged: a rename or exit decides which dump names a thread.
	// Without thread__start a birth wakes the reader at once: a
	// short-lived thread needs its dump before it ends. (Renames and
	// exits wait for the next drain: each wakeup is a context switch on
	// the host.) The forced wakeup is most of sched_wakeup_new's cost:
	// 11.4-11.8 us per call against 1.3-1.7 us without it on a 6.18
	// Firecracker VM (irq_work raises a self-IPI, a VM exit), so it is
	// skipped when the thread will name itself: 497 against 8,551 ns per
	// call at 176 births/s (A/B, scripts/bench-bpfcost.sh).
	bool wake = kind == KIND_BIRTH && !in_bitmap(&probed, e->pid);
	bpf_ringbuf_submit(e, wake ? BPF_RB_FORCE_WAKEUP : submit_flags());
}

static __always_inline int handle_birth(bool btf, struct task_struct *p)
{
	// Its comm is its creator's until HotSpot names it: user space must
	// know that the first rename of a new thread is not a Java rename.
	if (is_target(RD(btf, p, tgid)))
		lifecycle(btf, p, KIND_BIRTH, 0);
	return handle_wakeup(btf, p, KIND_WAKEUP_NEW);
}

// task_rename fires for every prctl(PR_SET_NAME)/comm write, even when the
// new name equals the old: HotSpot's setName on the current thread keeps
// only 15 bytes, so a rename is often invisible in comm itself.
static __always_inline int handle_rename(bool btf, struct task_struct *t, const char *comm)
{
	if (is_target(RD(btf, t, tgid)))
		lifecycle(btf, t, KIND_RENAME, comm);
	return 0;
}

static __always_inline int handle_exit(bool btf, struct task_struct *p)
{
	u32 tgid = RD(btf, p, tgid);
	if (!traced(tgid))
		return 0;
	u32 tid = RD(btf, p, pid);
	// Normally gone already; drop what a lost event may have left behind
	// before the TID is reused.
	forget(tid);
	if (vthreads)
		carrier_exit(tid);

	// User space must know a TID ended: TIDs are reused.
	if (targ_tgid || targ_set)
		lifecycle(btf, p, KIND_EXIT, 0);
	return 0;
}

// Program names stay within the kernel's 15 visible characters.

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runq_btf_wake, struct task_struct *p)
{
	return handle_wakeup(true, p, KIND_WAKEUP);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(runq_raw_wake, struct task_struct *p)
{
	return handle_wakeup(false, p, KIND_WAKEUP);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(runq_btf_wnew, struct task_struct *p)
{
	return handle_birth(true, p);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(runq_raw_wnew, struct task_struct *p)
{
	return handle_birth(false, p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runq_btf_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return handle_switch(true, preempt, prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(runq_raw_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return handle_switch(false, preempt, prev, next);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(runq_btf_exit, struct task_struct *p)
{
	return handle_exit(true, p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(runq_raw_exit, struct task_struct *p)
{
	return handle_exit(false, p);
}

SEC("tp_btf/task_rename")
int BPF_PROG(runq_btf_rename, struct task_struct *t, const char *comm)
{
	return handle_rename(true, t, comm);
}

SEC("raw_tp/task_rename")
int BPF_PROG(runq_raw_rename, struct task_struct *t, const char *comm)
{
	return handle_rename(false, t, comm);
}

// probe_arg reads a USDT argument of a uprobe: a register (its byte offset
// in pt_regs, known only at load time: hence a probe read), or memory at
// it plus disp; masked to size bytes.
static __always_inline u64 probe_arg(struct pt_regs *ctx, u32 reg, u32 mem, s64 disp, u32 size)
{
	u64 v = 0;
	if (bpf_probe_read_kernel(&v, sizeof(v), (void *)ctx + reg))
		return 0;
	if (mem) {
		u64 at = v + disp;
		v = 0;
		if (bpf_probe_read_user(&v, sizeof(v), (void *)at))
			return 0;
	}
	if (size < 8)
		v &= (1ULL << (size * 8)) - 1;
	return v;
}

static __always_inline bool target_thread(u64 id)
{
	return is_target(id >> 32);
}

// vmop sends a VM operation's begin or end with its name: user space pins
// each thread dump to the operation that printed it (the JVM's threads are
// stopped there), to say which virtual thread a carrier had mounted.
// Attached to the target process only; rare (a few per second).
static __always_inline int vmop(struct pt_regs *ctx, u8 kind, u32 reg, u32 mem, s64 disp)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!target_thread(id))
		return 0;
	u64 name = probe_arg(ctx, reg, mem, disp, 8);
	if (!name)
		return 0;
	struct event e;
	__builtin_memset(&e, 0, sizeof(e));
	e.ts = bpf_ktime_get_ns();
	e.pid = id >> 32;
	e.tid = (u32)id;
	e.cpu = bpf_get_smp_processor_id();
	e.queued_cpu = e.cpu;
	e.kind = kind;
	bpf_probe_read_user_str(e.comm, sizeof(e.comm), (void *)name);
	if (bpf_ringbuf_output(&events, &e, sizeof(e), submit_flags()))
		count(&lost);
	return 0;
}

SEC("uprobe")
int runq_vmop_begin(struct pt_regs *ctx)
{
	return vmop(ctx, KIND_VMOP_BEGIN, vmop_begin_reg, vmop_begin_mem, vmop_begin_disp);
}

SEC("uprobe")
int runq_vmop_end(struct pt_regs *ctx)
{
	return vmop(ctx, KIND_VMOP_END, vmop_end_reg, vmop_end_mem, vmop_end_disp);
}

// carrier_name tells the default virtual-thread scheduler's workers
// ("ForkJoinPool-1-worker-3"; user space checks the rest).
static __always_inline bool carrier_name(const char *s)
{
	const char p[] = "ForkJoinPool-";
#pragma unroll
	for (int i = 0; i < sizeof(p) - 1; i++)
		if (s[i] != p[i])
			return false;
	return true;
}

// send_name sends a thread's full name (modified UTF-8) read from name,
// with declared, the length its source gave; without one (!have_len), the
// bytes read, unless the buffer filled up: that marks the name as cut.
static __always_inline int send_name(u8 kind, u64 name, u64 declared, bool have_len)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!target_thread(id))
		return 0;
	struct name_event *ne = bpf_ringbuf_reserve(&events, sizeof(*ne), 0);
	if (!ne) {
		count(&lost);
		return 0;
	}
	__builtin_memset(&ne->e, 0, sizeof(ne->e));
	ne->e.ts = bpf_ktime_get_ns();
	ne->e.pid = id >> 32;
	ne->e.tid = (u32)id;
	ne->e.cpu = bpf_get_smp_processor_id();
	ne->e.queued_cpu = ne->e.cpu;
	ne->e.kind = kind;
	read_comm(true, ne->e.comm, bpf_get_current_task_btf());
	long n = name ? bpf_probe_read_user_str(ne->name, sizeof(ne->name), (void *)name) : 0;
	if (n <= 0) {
		ne->name[0] = 0;
		n = 1;
	}
	ne->e.prev_pid = n - 1; // bytes read
	if (!have_len)
		declared = n < NAME_MAX_BYTES ? n - 1 : NAME_MAX_BYTES;
	ne->e.latency = declared;
	// A new carrier is registered (user space reads the JVM's memory)
	// once its start is read: at once, not at the next drain, or its
	// first waits carry no virtual thread. Carriers start rarely.
	bool now = kind == KIND_THREAD_START && vthreads && carrier_name(ne->name);
	bpf_ringbuf_submit(ne, now ? BPF_RB_FORCE_WAKEUP : submit_flags());
	return 0;
}

// A Java thread starting, on itself, with its Java name: it is named from
// birth with no thread dump (a dump stops the whole JVM).
SEC("uprobe")
int runq_thread_start(struct pt_regs *ctx)
{
	if (!target_thread(bpf_get_current_pid_tgid()))
		return 0;
	u64 len = probe_arg(ctx, ts_len_reg, ts_len_mem, ts_len_disp, ts_len_size);
	u64 name = probe_arg(ctx, ts_name_reg, ts_name_mem, ts_name_disp, 8);
	return send_name(KIND_THREAD_START, name, len, true);
}

// HotSpot's os::set_native_thread_name(const char *name), entered by a
// thread naming itself (Thread.setName on the current thread, and every
// thread as it starts) just before it sets its 15-byte kernel name: the
// full name of a self-rename, with no thread dump. x86-64: the first
// argument is in rdi.
SEC("uprobe")
int runq_thread_name(struct pt_regs *ctx)
{
	if (!target_thread(bpf_get_current_pid_tgid()))
		return 0;
	return send_name(KIND_THREAD_NAME, ctx->di, 0, false);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
