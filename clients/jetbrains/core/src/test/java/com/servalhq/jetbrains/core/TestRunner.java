package com.servalhq.jetbrains.core;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.Comparator;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A JUnit-free runner: runs every {@link Test} method of the classes named on the command line, each
 * on a fresh instance with a 120 s bound, prints one line per test and then exactly
 * {@code N passed, N failed} (preceded by {@code N skipped} when a test threw {@link Skip}); exits 1
 * when anything failed. An optional {@code --filter SUBSTRING}
 * runs only matching tests.
 */
public final class TestRunner {
    private TestRunner() {
    }

    public static void main(String[] args) throws Exception {
        String filter = "";
        int passed = 0;
        int failed = 0;
        int skipped = 0;
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "test");
            t.setDaemon(true);
            return t;
        });
        for (int a = 0; a < args.length; a++) {
            if (args[a].equals("--filter")) {
                filter = args[++a];
                continue;
            }
            Class<?> cls = Class.forName(args[a]);
            Method[] methods = cls.getDeclaredMethods();
            Arrays.sort(methods, Comparator.comparing(Method::getName));
            for (Method m : methods) {
                if (!m.isAnnotationPresent(Test.class) || Modifier.isStatic(m.getModifiers())) {
                    continue;
                }
                String name = cls.getSimpleName() + "." + m.getName();
                if (!name.contains(filter)) {
                    continue;
                }
                Future<?> run = pool.submit(() -> {
                    Object instance = cls.getDeclaredConstructor().newInstance();
                    m.setAccessible(true);
                    m.invoke(instance);
                    return null;
                });
                try {
                    run.get(120, TimeUnit.SECONDS);
                    passed++;
                    System.out.println("PASS " + name);
                } catch (TimeoutException e) {
                    run.cancel(true);
                    failed++;
                    System.out.println("FAIL " + name + ": did not finish within 120 s");
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof InvocationTargetException ite && ite.getCause() != null) {
                        cause = ite.getCause();
                    }
                    if (cause instanceof Skip) {
                        skipped++;
                        System.out.println("SKIP " + name + ": " + cause.getMessage());
                        continue;
                    }
                    failed++;
                    System.out.println("FAIL " + name + ": " + cause);
                    for (StackTraceElement el : cause.getStackTrace()) {
                        if (el.getClassName().startsWith("com.servalhq")) {
                            System.out.println("    at " + el);
                        }
                    }
                }
            }
        }
        if (skipped > 0) {
            System.out.println(skipped + " skipped");
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }
}
