/*
 * hsmkms PKCS#11 interposer: a PKCS#11 module that forwards every call to a real module
 * (SoftHSM2 by default) and can, by configuration, make it behave like a network HSM, like AWS
 * CloudHSM, or like a failing device. For tests and benchmarks only; never in production.
 *
 * Built by test/global-setup.ts (cc, cached in build/pkcs11-interposer/ by source hash), or by
 * hand: cc -O2 -shared -fPIC -pthread -I node_modules/pkcs11js/includes/pkcs11 \
 *          -o libhsmkms-interposer.so test/pkcs11-interposer/interposer.c -ldl
 *
 * Configuration: environment variables, read once when the module is loaded, and an optional
 * control file whose settings replace them whenever the file changes (it is checked on every
 * call; write it atomically: write a temporary file, then rename it over the control file).
 *
 *   HSMKMS_INTERPOSER_MODULE=/usr/lib/softhsm/libsofthsm2.so   the real module (default shown)
 *   HSMKMS_INTERPOSER_CONTROL=/path/file                       the control file (optional)
 *   HSMKMS_INTERPOSER_LATENCY_US=300                           added to every call, in µs
 *   HSMKMS_INTERPOSER_JITTER_US=200                            plus a random 0..N µs
 *   HSMKMS_INTERPOSER_CLOUDHSM=1                               imitate AWS CloudHSM (below)
 *   HSMKMS_INTERPOSER_FAULT='C_Sign CKR_DEVICE_ERROR after=10 count=1'   one fault (below)
 *   HSMKMS_INTERPOSER_HANG='C_Encrypt ms=0 count=1'             one hang (below)
 *   HSMKMS_INTERPOSER_MAIN_THREAD_LOG=/path/file               append the name of every call made
 *                                                              on the process's main thread
 *   HSMKMS_INTERPOSER_STATS=/path/file                         count calls and the latency they got
 *                                                              (below)
 *   HSMKMS_INTERPOSER_OBJECT_LOG=/path/file                    append every object handle the module is
 *                                                              given or gives, from any thread (below)
 *
 * Control file: one `key=value` per line, `#` starts a comment. Keys: latency_us, jitter_us,
 * cloudhsm (0/1), fault (up to 8 lines), hang, token_removed (0/1), oversize_signatures,
 * token_manufacturer, hidden_mechanisms, main_thread_log, object_log. Counters (after=, count=) start from zero each time the file changes.
 *
 *   fault=<C_Function|*> <CKR_NAME|0xHEX> [after=N] [count=N] [close_sessions=1]
 *       The matching calls after the first N (default 0) return the code instead of being
 *       forwarded, `count` times (default 1; -1: always). close_sessions=1 also closes every
 *       session of the process in the real module first, as a device reset does.
 *       Codes by name: CKR_DEVICE_ERROR, CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED,
 *       CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED, CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED,
 *       CKR_DEVICE_MEMORY, CKR_USER_NOT_LOGGED_IN, CKR_OPERATION_ACTIVE; others as 0xHEX.
 *   hang=<C_Function|*> [ms=N] [after=N] [count=N]
 *       The matching call blocks before it is forwarded: for N ms, or with ms=0 (default) until
 *       the control file changes again ("released").
 *   token_removed=1
 *       The token is gone: C_GetSlotList(tokenPresent) lists no slot, C_GetTokenInfo and
 *       C_OpenSession return CKR_TOKEN_NOT_PRESENT, every other call CKR_DEVICE_REMOVED. When
 *       the setting goes back to 0 the token "returns" with no session: every session the
 *       process had is closed in the real module, and its login with them.
 *   oversize_signatures=N
 *       A lying token: C_Sign reports N more signature bytes than it produced (none written).
 *       The caller must not believe, or read past its buffer for, a length it did not allow.
 *   token_manufacturer=NAME
 *       C_GetTokenInfo reports NAME (up to 32 characters, blank-padded) as the manufacturerID:
 *       another vendor's token, for code that adapts to SoftHSM2.
 *   hidden_mechanisms=0xHEX[,0xHEX…]
 *       A token without these mechanisms (up to 8): C_GetMechanismList leaves them out and
 *       C_GetMechanismInfo answers CKR_MECHANISM_INVALID, as a token that lacks them does (AWS
 *       CloudHSM's library lists no EdDSA mechanism). Calls that use them still reach the real module.
 *   object_log=PATH
 *       One line per object handle passed to the real module, in the order the calls reach it
 *       (any thread): `C_EncryptInit <session> <object>` for a use (C_*Init, C_DestroyObject,
 *       C_GetAttributeValue, C_WrapKey, C_UnwrapKey, C_DeriveKey), `C_UnwrapKey <session> ->
 *       <object>` for an object made (also C_CreateObject, C_DeriveKey, C_GenerateKey), and
 *       `C_CloseSession <session> 0` once a session is closed (not those close_sessions or
 *       token_removed close), and `C_Login <session> 0` for every login that reaches the module (one an injected fault refuses too). What a test needs to tell whether a handle was used after the
 *       session that made it closed (an HSM that reuses handle numbers may have given the number
 *       to another object by then).
 *
 * Latency: each call is held until its start + latency (+ jitter), an absolute deadline on
 * CLOCK_MONOTONIC, with the calling thread's timer slack at 1 ns: a relative nanosleep after the
 * interposer's own work, with Linux's default 50 µs slack, overslept by ~0.25 ms per call under
 * load, which a network HSM's round trip does not do. What remains is the scheduler's wake-up
 * delay on a busy machine, which a thread waiting for a real HSM's answer pays too.
 *
 * Statistics (HSMKMS_INTERPOSER_STATS): the file is mapped shared and holds five little-endian
 * uint64 counters, updated atomically by every process that loads the interposer with the same
 * path (a reader diffs two snapshots): a magic "HSMKMSI1", calls answered, the latency asked for
 * (latency + jitter, ns), the latency actually added (from the call's start until its sleep
 * ended, ns), and the whole time in the interposer (that plus the real module's call, ns).
 *
 * CloudHSM imitation (cloudhsm=1), the quirks SoftHSM2 lacks:
 *   - AES-GCM encryption: the IV in CK_GCM_PARAMS must be 12 zero bytes
 *     (CKR_MECHANISM_PARAM_INVALID otherwise); the "HSM" generates a random IV and writes it
 *     into the caller's pIv when C_Encrypt completes.
 *   - Every key object created (C_GenerateKey, C_GenerateKeyPair, C_UnwrapKey, C_DeriveKey,
 *     C_CreateObject of a key class) needs a CKA_ID (CKR_TEMPLATE_INCOMPLETE) that no other
 *     object in the token has (CKR_ATTRIBUTE_VALUE_INVALID); a key pair shares its id.
 *   - C_Login as CKU_USER takes the PIN as `user:password` (CKR_PIN_INCORRECT otherwise) and
 *     passes only the password on.
 *   Real, not emulated: CKA_UNWRAP_TEMPLATE is stored and enforced by SoftHSM2 2.6 itself
 *   (C_UnwrapKey with a conflicting template fails with CKR_TEMPLATE_INCONSISTENT).
 */
#define _GNU_SOURCE
/* The OASIS header from the pkcs11js dependency, which defines its own platform macros. */
#include <pkcs11.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_FAULTS 8
#define MAX_SESSIONS 512

typedef struct {
  char fn[64]; /* "*" matches every function */
  CK_RV rv;
  long after, count, seen;
  int closeSessions;
} Fault;

typedef struct {
  char fn[64];
  long ms, after, count, seen;
  int set;
} Hang;

typedef struct {
  long latencyUs, jitterUs;
  int cloudhsm, tokenRemoved;
  long oversizeSignatures;
  char tokenManufacturer[33];
  CK_MECHANISM_TYPE hiddenMechanisms[8];
  int nHiddenMechanisms;
  Fault faults[MAX_FAULTS];
  int nFaults;
  Hang hang;
  char mainThreadLog[512];
  char objectLog[512];
} Config;

typedef struct {
  CK_SESSION_HANDLE session;
  CK_BYTE_PTR callerIv; /* where the "HSM" writes the IV it chose, when C_Encrypt completes */
  CK_BYTE iv[12];
} GcmState;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST_PTR real = NULL;
static CK_FUNCTION_LIST ours;
static Config base, cfg;
static char controlPath[512];
static struct stat controlStat;
static unsigned long generation;
static GcmState gcm[MAX_SESSIONS];

/* The shared counters (HSMKMS_INTERPOSER_STATS); NULL when not asked for. */
typedef struct {
  uint64_t magic, calls, nominalNs, addedNs, inCallNs;
} Stats;
#define STATS_MAGIC 0x3149534d4b4d5348ULL /* "HSMKMSI1" read as little-endian bytes */
static Stats* stats;
static __thread struct timespec callStart;
static __thread int timerSlackSet;

/* ───────────────────────── configuration ───────────────────────── */

static const struct {
  const char* name;
  CK_RV rv;
} kCodes[] = {
    {"CKR_DEVICE_ERROR", CKR_DEVICE_ERROR},
    {"CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID},
    {"CKR_SESSION_CLOSED", CKR_SESSION_CLOSED},
    {"CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT},
    {"CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED},
    {"CKR_GENERAL_ERROR", CKR_GENERAL_ERROR},
    {"CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED},
    {"CKR_DEVICE_MEMORY", CKR_DEVICE_MEMORY},
    {"CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN},
    {"CKR_OPERATION_ACTIVE", CKR_OPERATION_ACTIVE},
};

static int parseCode(const char* s, CK_RV* rv) {
  for (size_t i = 0; i < sizeof kCodes / sizeof kCodes[0]; i++)
    if (strcmp(s, kCodes[i].name) == 0) {
      *rv = kCodes[i].rv;
      return 1;
    }
  if (strncmp(s, "0x", 2) == 0) {
    *rv = strtoul(s + 2, NULL, 16);
    return 1;
  }
  return 0;
}

/* Reads `key=N` options after the first words of a fault or hang spec. */
static void parseOptions(char* rest, long* after, long* count, long* ms, int* closeSessions) {
  for (char* tok = strtok(rest, " \t"); tok; tok = strtok(NULL, " \t")) {
    if (strncmp(tok, "after=", 6) == 0) *after = atol(tok + 6);
    else if (strncmp(tok, "count=", 6) == 0) *count = atol(tok + 6);
    else if (ms && strncmp(tok, "ms=", 3) == 0) *ms = atol(tok + 3);
    else if (closeSessions && strncmp(tok, "close_sessions=", 15) == 0) *closeSessions = atoi(tok + 15);
    else fprintf(stderr, "hsmkms-interposer: ignoring option '%s'\n", tok);
  }
}

static void parseFault(Config* c, const char* spec) {
  if (c->nFaults == MAX_FAULTS) return;
  char buf[256], fn[64], code[64];
  snprintf(buf, sizeof buf, "%s", spec);
  int used = 0;
  if (sscanf(buf, "%63s %63s %n", fn, code, &used) < 2) {
    fprintf(stderr, "hsmkms-interposer: bad fault '%s'\n", spec);
    return;
  }
  Fault* f = &c->faults[c->nFaults];
  memset(f, 0, sizeof *f);
  if (!parseCode(code, &f->rv)) {
    fprintf(stderr, "hsmkms-interposer: unknown return code '%s'\n", code);
    return;
  }
  snprintf(f->fn, sizeof f->fn, "%s", fn);
  f->count = 1;
  parseOptions(buf + used, &f->after, &f->count, NULL, &f->closeSessions);
  c->nFaults++;
}

static void parseHang(Config* c, const char* spec) {
  char buf[256], fn[64];
  snprintf(buf, sizeof buf, "%s", spec);
  int used = 0;
  if (sscanf(buf, "%63s %n", fn, &used) < 1) return;
  memset(&c->hang, 0, sizeof c->hang);
  snprintf(c->hang.fn, sizeof c->hang.fn, "%s", fn);
  c->hang.count = 1;
  parseOptions(buf + used, &c->hang.after, &c->hang.count, &c->hang.ms, NULL);
  c->hang.set = 1;
}

static void setting(Config* c, const char* key, const char* value) {
  if (strcmp(key, "latency_us") == 0) c->latencyUs = atol(value);
  else if (strcmp(key, "jitter_us") == 0) c->jitterUs = atol(value);
  else if (strcmp(key, "cloudhsm") == 0) c->cloudhsm = atoi(value);
  else if (strcmp(key, "token_removed") == 0) c->tokenRemoved = atoi(value);
  else if (strcmp(key, "oversize_signatures") == 0) c->oversizeSignatures = atol(value);
  else if (strcmp(key, "token_manufacturer") == 0) snprintf(c->tokenManufacturer, sizeof c->tokenManufacturer, "%s", value);
  else if (strcmp(key, "hidden_mechanisms") == 0) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", value);
    c->nHiddenMechanisms = 0;
    for (char* save = NULL, *t = strtok_r(buf, ", ", &save); t && c->nHiddenMechanisms < 8; t = strtok_r(NULL, ", ", &save))
      c->hiddenMechanisms[c->nHiddenMechanisms++] = (CK_MECHANISM_TYPE)strtoul(t, NULL, 0);
  }
  else if (strcmp(key, "fault") == 0) parseFault(c, value);
  else if (strcmp(key, "hang") == 0) parseHang(c, value);
  else if (strcmp(key, "main_thread_log") == 0) snprintf(c->mainThreadLog, sizeof c->mainThreadLog, "%s", value);
  else if (strcmp(key, "object_log") == 0) snprintf(c->objectLog, sizeof c->objectLog, "%s", value);
  else fprintf(stderr, "hsmkms-interposer: unknown setting '%s'\n", key);
}

static void readEnvironment(void) {
  const char* v;
  memset(&base, 0, sizeof base);
  if ((v = getenv("HSMKMS_INTERPOSER_LATENCY_US"))) setting(&base, "latency_us", v);
  if ((v = getenv("HSMKMS_INTERPOSER_JITTER_US"))) setting(&base, "jitter_us", v);
  if ((v = getenv("HSMKMS_INTERPOSER_CLOUDHSM"))) setting(&base, "cloudhsm", v);
  if ((v = getenv("HSMKMS_INTERPOSER_FAULT"))) setting(&base, "fault", v);
  if ((v = getenv("HSMKMS_INTERPOSER_HANG"))) setting(&base, "hang", v);
  if ((v = getenv("HSMKMS_INTERPOSER_MAIN_THREAD_LOG"))) setting(&base, "main_thread_log", v);
  if ((v = getenv("HSMKMS_INTERPOSER_OBJECT_LOG"))) setting(&base, "object_log", v);
  if ((v = getenv("HSMKMS_INTERPOSER_CONTROL"))) snprintf(controlPath, sizeof controlPath, "%s", v);
  cfg = base;
}

/* Maps the statistics file (created when missing; shared with every process that maps it). */
static void openStats(void) {
  const char* path = getenv("HSMKMS_INTERPOSER_STATS");
  if (!path || !*path) return;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || ((size_t)st.st_size < sizeof(Stats) && ftruncate(fd, sizeof(Stats)) != 0)) {
    fprintf(stderr, "hsmkms-interposer: cannot use the statistics file %s\n", path);
    if (fd >= 0) close(fd);
    return;
  }
  void* p = mmap(NULL, sizeof(Stats), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return;
  stats = p;
  __atomic_store_n(&stats->magic, STATS_MAGIC, __ATOMIC_RELAXED);
}

static uint64_t nsSince(const struct timespec* t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)((now.tv_sec - t->tv_sec) * 1000000000LL + (now.tv_nsec - t->tv_nsec));
}

/* Every wrapper returns through here: the call is counted with its whole time in the interposer. */
static CK_RV after(CK_RV rv) {
  if (stats) {
    __atomic_fetch_add(&stats->calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&stats->inCallNs, nsSince(&callStart), __ATOMIC_RELAXED);
  }
  return rv;
}

static void closeEverySession(void) {
  CK_SLOT_ID slots[64];
  CK_ULONG n = 64;
  if (real->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) return;
  for (CK_ULONG i = 0; i < n; i++) real->C_CloseAllSessions(slots[i]);
}

/* Re-reads the control file when it changed. Called with `mu` held. */
static void reloadLocked(void) {
  if (controlPath[0] == '\0') return;
  struct stat st;
  if (stat(controlPath, &st) != 0) memset(&st, 0, sizeof st);
  if (st.st_ino == controlStat.st_ino && st.st_size == controlStat.st_size && st.st_mtim.tv_sec == controlStat.st_mtim.tv_sec &&
      st.st_mtim.tv_nsec == controlStat.st_mtim.tv_nsec)
    return;
  controlStat = st;
  generation++;
  int wasRemoved = cfg.tokenRemoved;
  Config next = base;
  FILE* f = fopen(controlPath, "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = '\0';
      char* hash = strchr(line, '#');
      if (hash) *hash = '\0';
      char* eq = strchr(line, '=');
      if (!eq) continue;
      *eq = '\0';
      char* key = line;
      while (*key == ' ' || *key == '\t') key++;
      char* end = key + strlen(key);
      while (end > key && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
      setting(&next, key, eq + 1);
    }
    fclose(f);
  }
  cfg = next;
  /* The token is back: whatever sessions there were did not survive its removal. */
  if (wasRemoved && !cfg.tokenRemoved && real) closeEverySession();
}

/* ───────────────────────── what happens before each call ───────────────────────── */

static int matches(const char* pattern, const char* fn) { return strcmp(pattern, "*") == 0 || strcmp(pattern, fn) == 0; }

static void sleepUs(long us) {
  if (us <= 0) return;
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Sleeps until `start` + `us` (absolute, so the interposer's own work is inside the latency). */
static void sleepUntil(const struct timespec* start, long us) {
  if (us <= 0) return;
  if (!timerSlackSet) {
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    timerSlackSet = 1;
  }
  struct timespec deadline = {start->tv_sec + us / 1000000, start->tv_nsec + (us % 1000000) * 1000};
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR) {
  }
}

/* Functions that answer with the token removed. */
static int worksWithoutToken(const char* fn) {
  return strcmp(fn, "C_Initialize") == 0 || strcmp(fn, "C_Finalize") == 0 || strcmp(fn, "C_GetInfo") == 0 || strcmp(fn, "C_GetSlotList") == 0 ||
         strcmp(fn, "C_GetSlotInfo") == 0 || strcmp(fn, "C_WaitForSlotEvent") == 0 || strcmp(fn, "C_GetFunctionStatus") == 0 ||
         strcmp(fn, "C_CancelFunction") == 0;
}

/*
 * Latency, faults, hangs, removal and the main-thread log, in that order. Returns CKR_OK to
 * forward the call, or the code to return instead.
 */
static CK_RV before(const char* fn) {
  clock_gettime(CLOCK_MONOTONIC, &callStart);
  pthread_mutex_lock(&mu);
  reloadLocked();
  Config c = cfg;
  if (c.mainThreadLog[0] && syscall(SYS_gettid) == getpid()) {
    FILE* log = fopen(c.mainThreadLog, "a");
    if (log) {
      fprintf(log, "%s\n", fn);
      fclose(log);
    }
  }
  CK_RV injected = CKR_OK;
  int closeSessions = 0;
  for (int i = 0; i < cfg.nFaults && injected == CKR_OK; i++) {
    Fault* f = &cfg.faults[i];
    if (!matches(f->fn, fn) || f->count == 0) continue;
    if (++f->seen <= f->after) continue;
    if (f->count > 0) f->count--;
    injected = f->rv;
    closeSessions = f->closeSessions;
  }
  long hangMs = -1;
  unsigned long hangGeneration = generation;
  if (injected == CKR_OK && cfg.hang.set && matches(cfg.hang.fn, fn) && cfg.hang.count != 0 && ++cfg.hang.seen > cfg.hang.after) {
    if (cfg.hang.count > 0) cfg.hang.count--;
    hangMs = cfg.hang.ms;
  }
  if (closeSessions) closeEverySession();
  pthread_mutex_unlock(&mu);

  long jitter = 0;
  if (c.jitterUs > 0) {
    unsigned int r = 0;
    if (getrandom(&r, sizeof r, 0) == sizeof r) jitter = r % (unsigned long)(c.jitterUs + 1);
  }
  sleepUntil(&callStart, c.latencyUs + jitter);
  if (stats) {
    __atomic_fetch_add(&stats->nominalNs, (uint64_t)(c.latencyUs + jitter) * 1000, __ATOMIC_RELAXED);
    __atomic_fetch_add(&stats->addedNs, nsSince(&callStart), __ATOMIC_RELAXED);
  }
  if (injected != CKR_OK) return injected;
  if (hangMs >= 0) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
      sleepUs(2000);
      clock_gettime(CLOCK_MONOTONIC, &now);
      long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      if (hangMs > 0 && elapsed >= hangMs) break;
      pthread_mutex_lock(&mu);
      reloadLocked();
      int released = generation != hangGeneration;
      pthread_mutex_unlock(&mu);
      if (hangMs == 0 && released) break;
    }
  }
  if (c.tokenRemoved && !worksWithoutToken(fn))
    return strcmp(fn, "C_GetTokenInfo") == 0 || strcmp(fn, "C_OpenSession") == 0 || strcmp(fn, "C_InitToken") == 0 ? CKR_TOKEN_NOT_PRESENT
                                                                                                                   : CKR_DEVICE_REMOVED;
  return CKR_OK;
}

static int cloudhsm(void) {
  pthread_mutex_lock(&mu);
  int on = cfg.cloudhsm;
  pthread_mutex_unlock(&mu);
  return on;
}

/* ───────────────────────── the object log ───────────────────────── */

/*
 * Appends one line to the object log (object_log), if set: `fn session object`, or with `made`
 * `fn session -> object`. One write(2) to a file opened O_APPEND, so lines from threads never
 * interleave. Called while the call is made (uses) or once it succeeded (objects made).
 */
static void objectLog(const char* fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, int made) {
  char path[sizeof cfg.objectLog];
  pthread_mutex_lock(&mu);
  int on = cfg.objectLog[0] != 0;
  if (on) memcpy(path, cfg.objectLog, sizeof path);
  pthread_mutex_unlock(&mu);
  if (!on) return;
  char line[160];
  int n = snprintf(line, sizeof line, "%s %lu %s%lu\n", fn, (unsigned long)session, made ? "-> " : "", (unsigned long)object);
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (write(fd, line, (size_t)n) != n) { /* a test log: nothing to do */ }
  close(fd);
}

/* Forwards a call that uses one object handle, logging the use. */
#define USES_OBJECT(name, params, args, session, object) \
  static CK_RV x_##name params {                         \
    CK_RV rv = before(#name);                            \
    if (rv != CKR_OK) return rv;                         \
    objectLog(#name, session, object, 0);                \
    return real->name args;                              \
  }
USES_OBJECT(C_DecryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), (hSession, pMechanism, hKey), hSession, hKey)
USES_OBJECT(C_SignInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), (hSession, pMechanism, hKey), hSession, hKey)
USES_OBJECT(C_VerifyInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), (hSession, pMechanism, hKey), hSession, hKey)
USES_OBJECT(C_DestroyObject, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject), (hSession, hObject), hSession, hObject)
USES_OBJECT(C_GetAttributeValue, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount),
            (hSession, hObject, pTemplate, ulCount), hSession, hObject)
#undef USES_OBJECT

static CK_RV x_C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
                         CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen) {
  CK_RV rv = before("C_WrapKey");
  if (rv != CKR_OK) return rv;
  objectLog("C_WrapKey", hSession, hWrappingKey, 0);
  objectLog("C_WrapKey", hSession, hKey, 0);
  return real->C_WrapKey(hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen);
}

/* ───────────────────────── plain forwarding ───────────────────────── */

#define FORWARD(name, params, args)                  \
  static CK_RV w_##name params {                     \
    CK_RV rv = before(#name);                        \
    return after(rv != CKR_OK ? rv : real->name args); \
  }

#include "forward.inc"

/* ───────────────────────── token presence ───────────────────────── */

static CK_RV x_C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
  CK_RV rv = before("C_GetSlotList");
  if (rv != CKR_OK) return rv;
  pthread_mutex_lock(&mu);
  int removed = cfg.tokenRemoved;
  pthread_mutex_unlock(&mu);
  if (removed && tokenPresent) {
    *pulCount = 0;
    return CKR_OK;
  }
  return real->C_GetSlotList(tokenPresent, pSlotList, pulCount);
}

static CK_RV x_C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) {
  CK_RV rv = before("C_GetSlotInfo");
  if (rv == CKR_OK) rv = real->C_GetSlotInfo(slotID, pInfo);
  pthread_mutex_lock(&mu);
  if (rv == CKR_OK && cfg.tokenRemoved) pInfo->flags &= ~CKF_TOKEN_PRESENT;
  pthread_mutex_unlock(&mu);
  return rv;
}

static CK_RV x_C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
  CK_RV rv = before("C_GetTokenInfo");
  if (rv != CKR_OK) return rv;
  rv = real->C_GetTokenInfo(slotID, pInfo);
  pthread_mutex_lock(&mu);
  if (rv == CKR_OK && cfg.tokenManufacturer[0]) {
    memset(pInfo->manufacturerID, ' ', sizeof pInfo->manufacturerID);
    memcpy(pInfo->manufacturerID, cfg.tokenManufacturer, strlen(cfg.tokenManufacturer));
  }
  pthread_mutex_unlock(&mu);
  return rv;
}

/* ───────────────────────── hidden mechanisms ───────────────────────── */

static int hidden(CK_MECHANISM_TYPE type) {
  pthread_mutex_lock(&mu);
  int found = 0;
  for (int i = 0; i < cfg.nHiddenMechanisms; i++) found |= cfg.hiddenMechanisms[i] == type;
  pthread_mutex_unlock(&mu);
  return found;
}

static CK_RV w_C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount) {
  CK_RV rv = before("C_GetMechanismList");
  if (rv == CKR_OK) rv = real->C_GetMechanismList(slotID, pMechanismList, pulCount);
  // A length query answers the real count: an upper bound, as the list that follows is shorter.
  if (rv == CKR_OK && pMechanismList) {
    CK_ULONG kept = 0;
    for (CK_ULONG i = 0; i < *pulCount; i++)
      if (!hidden(pMechanismList[i])) pMechanismList[kept++] = pMechanismList[i];
    *pulCount = kept;
  }
  return after(rv);
}

static CK_RV w_C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo) {
  CK_RV rv = before("C_GetMechanismInfo");
  if (rv == CKR_OK) rv = hidden(type) ? CKR_MECHANISM_INVALID : real->C_GetMechanismInfo(slotID, type, pInfo);
  return after(rv);
}

/* ───────────────────────── CloudHSM: PIN form ───────────────────────── */

static CK_RV x_C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
  CK_RV rv = before("C_Login");
  /* A login refused by an injected fault (a locked user) is one the token was asked for: logged too. */
  objectLog("C_Login", hSession, 0, 0);
  if (rv != CKR_OK) return rv;
  if (!cloudhsm() || userType != CKU_USER || pPin == NULL) return real->C_Login(hSession, userType, pPin, ulPinLen);
  CK_ULONG colon = 0;
  while (colon < ulPinLen && pPin[colon] != ':') colon++;
  if (colon == 0 || colon >= ulPinLen) return CKR_PIN_INCORRECT;  // CloudHSM wants user:password
  return real->C_Login(hSession, userType, pPin + colon + 1, ulPinLen - colon - 1);
}

/* ───────────────────────── CloudHSM: HSM-generated GCM IVs ───────────────────────── */

/* CK_GCM_PARAMS as PKCS#11 2.30 laid it out (no ulIvBits); pkcs11js can send either. */
typedef struct {
  CK_BYTE_PTR pIv;
  CK_ULONG ulIvLen;
  CK_BYTE_PTR pAAD;
  CK_ULONG ulAADLen;
  CK_ULONG ulTagBits;
} GcmParams230;

static GcmState* gcmSlot(CK_SESSION_HANDLE session, int create) {
  GcmState* freeSlot = NULL;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    if (gcm[i].callerIv && gcm[i].session == session) return &gcm[i];
    if (!gcm[i].callerIv && !freeSlot) freeSlot = &gcm[i];
  }
  if (create && freeSlot) freeSlot->session = session;
  return create ? freeSlot : NULL;
}

static void forgetGcm(CK_SESSION_HANDLE session) {
  pthread_mutex_lock(&mu);
  GcmState* s = gcmSlot(session, 0);
  if (s) memset(s, 0, sizeof *s);
  pthread_mutex_unlock(&mu);
}

static int allZero(const CK_BYTE* p, CK_ULONG n) {
  for (CK_ULONG i = 0; i < n; i++)
    if (p[i] != 0) return 0;
  return 1;
}

static CK_RV x_C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
  CK_RV rv = before("C_EncryptInit");
  if (rv != CKR_OK) return rv;
  objectLog("C_EncryptInit", hSession, hKey, 0);
  forgetGcm(hSession);
  if (!cloudhsm() || pMechanism == NULL || pMechanism->mechanism != CKM_AES_GCM || pMechanism->pParameter == NULL)
    return real->C_EncryptInit(hSession, pMechanism, hKey);
  CK_BYTE iv[12];
  if (getrandom(iv, sizeof iv, 0) != sizeof iv) return CKR_FUNCTION_FAILED;
  CK_MECHANISM mechanism = *pMechanism;
  CK_BYTE_PTR callerIv;
  if (pMechanism->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
    CK_GCM_PARAMS params = *(CK_GCM_PARAMS*)pMechanism->pParameter;
    if (params.ulIvLen != 12 || params.pIv == NULL || !allZero(params.pIv, 12)) return CKR_MECHANISM_PARAM_INVALID;
    callerIv = params.pIv;
    params.pIv = iv;
    mechanism.pParameter = &params;
    rv = real->C_EncryptInit(hSession, &mechanism, hKey);
  } else if (pMechanism->ulParameterLen == sizeof(GcmParams230)) {
    GcmParams230 params = *(GcmParams230*)pMechanism->pParameter;
    if (params.ulIvLen != 12 || params.pIv == NULL || !allZero(params.pIv, 12)) return CKR_MECHANISM_PARAM_INVALID;
    callerIv = params.pIv;
    params.pIv = iv;
    mechanism.pParameter = &params;
    rv = real->C_EncryptInit(hSession, &mechanism, hKey);
  } else {
    return CKR_MECHANISM_PARAM_INVALID;
  }
  if (rv != CKR_OK) return rv;
  pthread_mutex_lock(&mu);
  GcmState* s = gcmSlot(hSession, 1);
  if (s) {
    s->callerIv = callerIv;
    memcpy(s->iv, iv, sizeof iv);
  }
  pthread_mutex_unlock(&mu);
  return s ? CKR_OK : CKR_DEVICE_MEMORY;
}

static CK_RV x_C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData,
                         CK_ULONG_PTR pulEncryptedDataLen) {
  CK_RV rv = before("C_Encrypt");
  if (rv != CKR_OK) return rv;
  rv = real->C_Encrypt(hSession, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen);
  if ((rv == CKR_OK && pEncryptedData == NULL) || rv == CKR_BUFFER_TOO_SMALL) return rv;  // a length query: the operation goes on
  pthread_mutex_lock(&mu);
  GcmState* s = gcmSlot(hSession, 0);
  if (s) {
    if (rv == CKR_OK) memcpy(s->callerIv, s->iv, sizeof s->iv);
    memset(s, 0, sizeof *s);
  }
  pthread_mutex_unlock(&mu);
  return rv;
}

/* ───────────────────────── a lying token ───────────────────────── */

static CK_RV x_C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
  CK_RV rv = before("C_Sign");
  if (rv != CKR_OK) return rv;
  rv = real->C_Sign(hSession, pData, ulDataLen, pSignature, pulSignatureLen);
  pthread_mutex_lock(&mu);
  long extra = cfg.oversizeSignatures;
  pthread_mutex_unlock(&mu);
  if (rv == CKR_OK && pSignature != NULL && extra > 0) *pulSignatureLen += (CK_ULONG)extra;
  return rv;
}

static CK_RV x_C_CloseSession(CK_SESSION_HANDLE hSession) {
  CK_RV rv = before("C_CloseSession");
  if (rv != CKR_OK) return rv;
  forgetGcm(hSession);
  rv = real->C_CloseSession(hSession);
  if (rv == CKR_OK) objectLog("C_CloseSession", hSession, 0, 0);
  return rv;
}

static CK_RV x_C_CloseAllSessions(CK_SLOT_ID slotID) {
  CK_RV rv = before("C_CloseAllSessions");
  if (rv != CKR_OK) return rv;
  pthread_mutex_lock(&mu);
  memset(gcm, 0, sizeof gcm);
  pthread_mutex_unlock(&mu);
  return real->C_CloseAllSessions(slotID);
}

/* ───────────────────────── CloudHSM: unique CKA_ID ───────────────────────── */

static CK_ATTRIBUTE_PTR findAttribute(CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_ATTRIBUTE_TYPE type) {
  for (CK_ULONG i = 0; t && i < n; i++)
    if (t[i].type == type) return &t[i];
  return NULL;
}

/* Whether any object in the session's token already has this CKA_ID. */
static int idInUse(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR id) {
  CK_SESSION_INFO info;
  if (real->C_GetSessionInfo(session, &info) != CKR_OK) return 0;
  CK_SESSION_HANDLE probe;
  if (real->C_OpenSession(info.slotID, CKF_SERIAL_SESSION, NULL, NULL, &probe) != CKR_OK) return 0;
  CK_ATTRIBUTE search = {CKA_ID, id->pValue, id->ulValueLen};
  CK_OBJECT_HANDLE found;
  CK_ULONG count = 0;
  if (real->C_FindObjectsInit(probe, &search, 1) == CKR_OK) {
    real->C_FindObjects(probe, &found, 1, &count);
    real->C_FindObjectsFinal(probe);
  }
  real->C_CloseSession(probe);
  return count > 0;
}

/* CKR_OK when the template gives the new key an id no object has; `keyClass` 0: read it from the template. */
static CK_RV requireUniqueId(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR t, CK_ULONG n, int alwaysKey) {
  if (!cloudhsm()) return CKR_OK;
  if (!alwaysKey) {
    CK_ATTRIBUTE_PTR cls = findAttribute(t, n, CKA_CLASS);
    if (!cls || cls->ulValueLen != sizeof(CK_OBJECT_CLASS)) return CKR_OK;
    CK_OBJECT_CLASS c = *(CK_OBJECT_CLASS*)cls->pValue;
    if (c != CKO_SECRET_KEY && c != CKO_PRIVATE_KEY && c != CKO_PUBLIC_KEY) return CKR_OK;
  }
  CK_ATTRIBUTE_PTR id = findAttribute(t, n, CKA_ID);
  if (!id || id->ulValueLen == 0 || id->pValue == NULL) return CKR_TEMPLATE_INCOMPLETE;
  return idInUse(session, id) ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_OK;
}

static CK_RV x_C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                             CK_OBJECT_HANDLE_PTR phKey) {
  CK_RV rv = before("C_GenerateKey");
  if (rv == CKR_OK) rv = requireUniqueId(hSession, pTemplate, ulCount, 1);
  if (rv == CKR_OK) rv = real->C_GenerateKey(hSession, pMechanism, pTemplate, ulCount, phKey);
  if (rv == CKR_OK) objectLog("C_GenerateKey", hSession, *phKey, 1);
  return rv;
}

static CK_RV x_C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pPublicKeyTemplate,
                                 CK_ULONG ulPublicKeyAttributeCount, CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                                 CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey) {
  CK_RV rv = before("C_GenerateKeyPair");
  if (rv == CKR_OK) rv = requireUniqueId(hSession, pPrivateKeyTemplate, ulPrivateKeyAttributeCount, 1);
  if (rv == CKR_OK) rv = requireUniqueId(hSession, pPublicKeyTemplate, ulPublicKeyAttributeCount, 1);
  return rv != CKR_OK ? rv
                      : real->C_GenerateKeyPair(hSession, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount, pPrivateKeyTemplate,
                                                ulPrivateKeyAttributeCount, phPublicKey, phPrivateKey);
}

static CK_RV x_C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                           CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey) {
  CK_RV rv = before("C_UnwrapKey");
  if (rv == CKR_OK) rv = requireUniqueId(hSession, pTemplate, ulAttributeCount, 1);
  if (rv != CKR_OK) return rv;
  objectLog("C_UnwrapKey", hSession, hUnwrappingKey, 0);
  rv = real->C_UnwrapKey(hSession, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate, ulAttributeCount, phKey);
  if (rv == CKR_OK) objectLog("C_UnwrapKey", hSession, *phKey, 1);
  return rv;
}

static CK_RV x_C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                           CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey) {
  CK_RV rv = before("C_DeriveKey");
  if (rv == CKR_OK) rv = requireUniqueId(hSession, pTemplate, ulAttributeCount, 1);
  if (rv != CKR_OK) return rv;
  objectLog("C_DeriveKey", hSession, hBaseKey, 0);
  rv = real->C_DeriveKey(hSession, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey);
  if (rv == CKR_OK) objectLog("C_DeriveKey", hSession, *phKey, 1);
  return rv;
}

static CK_RV x_C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject) {
  CK_RV rv = before("C_CreateObject");
  if (rv == CKR_OK) rv = requireUniqueId(hSession, pTemplate, ulCount, 0);
  if (rv == CKR_OK) rv = real->C_CreateObject(hSession, pTemplate, ulCount, phObject);
  if (rv == CKR_OK) objectLog("C_CreateObject", hSession, *phObject, 1);
  return rv;
}

/* The calls interposer.c defines itself (x_…), counted through after() like the forwarded ones. */
#define TIMED(name, params, args) \
  static CK_RV w_##name params { return after(x_##name args); }
TIMED(C_GetSlotList, (CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount), (tokenPresent, pSlotList, pulCount))
TIMED(C_GetSlotInfo, (CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo), (slotID, pInfo))
TIMED(C_GetTokenInfo, (CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo), (slotID, pInfo))
TIMED(C_Login, (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen), (hSession, userType, pPin, ulPinLen))
TIMED(C_EncryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), (hSession, pMechanism, hKey))
TIMED(C_Encrypt, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen),
      (hSession, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen))
TIMED(C_Sign, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen),
      (hSession, pData, ulDataLen, pSignature, pulSignatureLen))
TIMED(C_CloseSession, (CK_SESSION_HANDLE hSession), (hSession))
TIMED(C_DecryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), (hSession, pMechanism, hKey))
TIMED(C_SignInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), (hSession, pMechanism, hKey))
TIMED(C_VerifyInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey), (hSession, pMechanism, hKey))
TIMED(C_DestroyObject, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject), (hSession, hObject))
TIMED(C_GetAttributeValue, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount),
      (hSession, hObject, pTemplate, ulCount))
TIMED(C_WrapKey, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
                  CK_ULONG_PTR pulWrappedKeyLen),
      (hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen))
TIMED(C_CloseAllSessions, (CK_SLOT_ID slotID), (slotID))
TIMED(C_GenerateKey, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey),
      (hSession, pMechanism, pTemplate, ulCount, phKey))
TIMED(C_GenerateKeyPair,
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
       CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount, CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey),
      (hSession, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount, pPrivateKeyTemplate, ulPrivateKeyAttributeCount, phPublicKey, phPrivateKey))
TIMED(C_UnwrapKey,
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen,
       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey),
      (hSession, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, pTemplate, ulAttributeCount, phKey))
TIMED(C_DeriveKey,
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
       CK_OBJECT_HANDLE_PTR phKey),
      (hSession, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey))
TIMED(C_CreateObject, (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject),
      (hSession, pTemplate, ulCount, phObject))

/* ───────────────────────── loading ───────────────────────── */

static CK_RV w_C_Initialize(CK_VOID_PTR pInitArgs);
static CK_RV w_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);

static CK_RV load(void) {
  if (real) return CKR_OK;
  readEnvironment();
  openStats();
  const char* path = getenv("HSMKMS_INTERPOSER_MODULE");
  if (!path || !*path) path = "/usr/lib/softhsm/libsofthsm2.so";
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    fprintf(stderr, "hsmkms-interposer: cannot load %s: %s\n", path, dlerror());
    return CKR_GENERAL_ERROR;
  }
  CK_C_GetFunctionList getList = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
  CK_FUNCTION_LIST_PTR list = NULL;
  if (!getList || getList(&list) != CKR_OK || !list) {
    fprintf(stderr, "hsmkms-interposer: %s is not a PKCS#11 module\n", path);
    return CKR_GENERAL_ERROR;
  }
  ours = *list;
#define OURS(name) ours.name = w_##name;
  OURS(C_Finalize) OURS(C_GetInfo) OURS(C_GetSlotList) OURS(C_GetSlotInfo) OURS(C_GetTokenInfo) OURS(C_GetMechanismList)
  OURS(C_GetMechanismInfo) OURS(C_InitToken) OURS(C_InitPIN) OURS(C_SetPIN) OURS(C_OpenSession) OURS(C_CloseSession)
  OURS(C_CloseAllSessions) OURS(C_GetSessionInfo) OURS(C_GetOperationState) OURS(C_SetOperationState) OURS(C_Login) OURS(C_Logout)
  OURS(C_CreateObject) OURS(C_CopyObject) OURS(C_DestroyObject) OURS(C_GetObjectSize) OURS(C_GetAttributeValue)
  OURS(C_SetAttributeValue) OURS(C_FindObjectsInit) OURS(C_FindObjects) OURS(C_FindObjectsFinal) OURS(C_EncryptInit) OURS(C_Encrypt)
  OURS(C_EncryptUpdate) OURS(C_EncryptFinal) OURS(C_DecryptInit) OURS(C_Decrypt) OURS(C_DecryptUpdate) OURS(C_DecryptFinal)
  OURS(C_DigestInit) OURS(C_Digest) OURS(C_DigestUpdate) OURS(C_DigestKey) OURS(C_DigestFinal) OURS(C_SignInit) OURS(C_Sign)
  OURS(C_SignUpdate) OURS(C_SignFinal) OURS(C_SignRecoverInit) OURS(C_SignRecover) OURS(C_VerifyInit) OURS(C_Verify)
  OURS(C_VerifyUpdate) OURS(C_VerifyFinal) OURS(C_VerifyRecoverInit) OURS(C_VerifyRecover) OURS(C_DigestEncryptUpdate)
  OURS(C_DecryptDigestUpdate) OURS(C_SignEncryptUpdate) OURS(C_DecryptVerifyUpdate) OURS(C_GenerateKey) OURS(C_GenerateKeyPair)
  OURS(C_WrapKey) OURS(C_UnwrapKey) OURS(C_DeriveKey) OURS(C_SeedRandom) OURS(C_GenerateRandom) OURS(C_GetFunctionStatus)
  OURS(C_CancelFunction) OURS(C_WaitForSlotEvent) OURS(C_Initialize) OURS(C_GetFunctionList)
#undef OURS
  real = list;
  return CKR_OK;
}

static CK_RV x_C_Initialize(CK_VOID_PTR pInitArgs) {
  CK_RV rv = before("C_Initialize");
  return rv != CKR_OK ? rv : real->C_Initialize(pInitArgs);
}

TIMED(C_Initialize, (CK_VOID_PTR pInitArgs), (pInitArgs))
#undef TIMED

static CK_RV w_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
  if (!ppFunctionList) return CKR_ARGUMENTS_BAD;
  *ppFunctionList = &ours;
  return CKR_OK;
}

CK_DEFINE_FUNCTION(CK_RV, C_GetFunctionList)(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
  pthread_mutex_lock(&mu);
  CK_RV rv = load();
  pthread_mutex_unlock(&mu);
  if (rv != CKR_OK) return rv;
  return w_C_GetFunctionList(ppFunctionList);
}
