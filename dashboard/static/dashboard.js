// Small progressive enhancement of the dashboard: every page works without
// it. Copy buttons beside keys, a confirmation before destructive forms, a
// preview of a product image before it is uploaded, the customers table
// refreshed while it is open, and, with Clerk, its sign-in.
(function () {
  'use strict';
  document.querySelectorAll('input.key').forEach(function (input) {
    if (!navigator.clipboard) return;
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary copy';
    button.textContent = 'Copy';
    button.setAttribute('aria-label', 'Copy ' + (input.getAttribute('aria-label') || 'the key'));
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(input.value).then(function () {
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = 'Copy'; }, 2000);
      });
    });
    input.insertAdjacentElement('afterend', button);
  });
  document.querySelectorAll('button.danger').forEach(function (button) {
    button.form.addEventListener('submit', function (event) {
      if (!window.confirm(button.textContent.trim() + '? This cannot be undone.')) event.preventDefault();
    });
  });
  document.querySelectorAll('input[type=file][data-preview]').forEach(function (input) {
    input.addEventListener('change', function () {
      var file = input.files && input.files[0];
      if (!file) return;
      var id = input.getAttribute('data-preview');
      var preview = document.getElementById(id);
      if (!preview) {
        preview = document.createElement('img');
        preview.id = id;
        preview.className = 'preview';
        preview.alt = 'Image preview';
        input.insertAdjacentElement('afterend', preview);
      }
      if (preview.src.indexOf('blob:') === 0) URL.revokeObjectURL(preview.src);
      preview.src = URL.createObjectURL(file);
    });
  });
  // With Clerk: the sign-in and sign-up pages mount Clerk's form and go on
  // to where the developer was headed once signed in; the signed-out page
  // ends the session at Clerk. Loaded on every page, Clerk's script keeps
  // the session cookie fresh.
  var clerkScript = document.querySelector('script[data-clerk-publishable-key]');
  if (clerkScript) {
    var withClerk = function () {
      window.Clerk.load().then(function () {
        var Clerk = window.Clerk;
        var mount = document.getElementById('clerk-auth');
        if (mount) {
          var next = mount.getAttribute('data-next') || '/dashboard';
          if (Clerk.user) { location.replace(next); return; }
          var options = { forceRedirectUrl: next, signInUrl: '/dashboard/signin', signUpUrl: '/dashboard/signup' };
          if (mount.getAttribute('data-page') === 'signup') Clerk.mountSignUp(mount, options); else Clerk.mountSignIn(mount, options);
        }
        if (document.getElementById('clerk-signout')) Clerk.signOut({ redirectUrl: '/dashboard/signin' });
      });
    };
    if (window.Clerk) withClerk(); else clerkScript.addEventListener('load', withClerk);
  }
  var live = document.querySelector('table[data-refresh]');
  if (live) {
    setInterval(function () {
      if (document.hidden) return;
      fetch(location.href, { credentials: 'same-origin' }).then(function (res) { return res.ok ? res.text() : null; }).then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('table[data-refresh]');
        if (fresh) live.replaceWith(fresh), live = fresh;
      });
    }, 10000);
  }
})();
