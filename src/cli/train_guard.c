/* What keeps a run safe around `ane_trainer train` (train_guard.h). */
#include "cli/train_guard.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The one trainer this process runs: SIGINT/SIGTERM ask it (and only it) to stop. */
static anet_trainer *volatile run_trainer;
static volatile sig_atomic_t signals_seen, first_signal;

static void on_signal(int sig) {
    if (signals_seen++ > 0) {
        static const char m[] = "\nane_trainer: interrupted again: exiting now (the last checkpoint is whole)\n";
        ssize_t w = write(STDERR_FILENO, m, sizeof m - 1);
        (void)w;
        _exit(128 + sig);
    }
    first_signal = sig;
    static const char m[] = "\nane_trainer: stopping after the current step (Ctrl-C again to exit at once)\n";
    ssize_t w = write(STDERR_FILENO, m, sizeof m - 1);
    (void)w;
    if (run_trainer) anet_trainer_request_stop(run_trainer, 1);
}

static void catch_signals(int on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* An argument as the shell reads it back: bare when it is plain, else in single quotes. */
static void print_shell_arg(FILE *f, const char *a) {
    int plain = a[0] != 0;
    for (const char *p = a; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%", *p)) plain = 0;
    if (plain) {
        fputs(a, f);
        return;
    }
    fputc('\'', f);
    for (const char *p = a; *p; p++) {
        if (*p == '\'') fputs("'\\''", f);
        else fputc(*p, f);
    }
    fputc('\'', f);
}

/* The command that continues an interrupted run: this one's arguments without --resume and
 * --overwrite, plus --resume CKPT and the run's --out. */
void cli_print_resume_command(FILE *f, int argc, char **argv, const char *ckpt, const char *out_dir) {
    fputs("ane_trainer train", f);
    int has_out = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--overwrite")) continue;
        if (!strcmp(a, "--resume")) {
            i++;
            continue;
        }
        if (!strncmp(a, "--resume=", 9)) continue;
        if (!strcmp(a, "--out") || !strncmp(a, "--out=", 6)) has_out = 1;
        fputc(' ', f);
        print_shell_arg(f, a);
    }
    fputs(" --resume ", f);
    print_shell_arg(f, ckpt);
    if (!has_out) {
        fputs(" --out ", f);
        print_shell_arg(f, out_dir);
    }
    fputc('\n', f);
}

/* A directory holding a run (a checkpoint or metrics of an earlier train) is not replaced
 * unless asked: 1 when dir has one (its files named in what[]). */
int cli_holds_run(const char *dir, char *what, size_t len) {
    static const char *const files[] = {"checkpoint.safetensors", "metrics.jsonl"};
    what[0] = 0;
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char p[4200];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, files[k]);
        if (lstat(p, &st) == 0) {
            size_t n = strlen(what);
            snprintf(what + n, len - n, "%s%s", n ? " and " : "", files[k]);
        }
    }
    return what[0] != 0;
}

void cli_train_catch_signals(anet_trainer *t) {
    run_trainer = t;
    catch_signals(1);
}

int cli_train_release_signals(void) {
    catch_signals(0);
    run_trainer = NULL;
    return first_signal;
}
