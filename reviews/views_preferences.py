"""The user's own review-mail preference: whether to receive the non-essential mails."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from portal.views.auth import AuthenticatedRequest
from reviews.notifications import notification_preference_set, wants_non_essential


class PreferenceForm(forms.Form):
    non_essential = forms.BooleanField(
        label=gettext_lazy("接收知悉类评审邮件"), required=False,
        help_text=gettext_lazy("如已提交、初审通过等仅供知悉的通知。退回补正（含补正期限）、评审结论、"
                               "结果公示和专家评审分配等必要通知始终发送。"))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def notification_preferences(request: AuthenticatedRequest) -> HttpResponse:
    # Only the user's own preference: there is no id in the URL, nothing of anyone else to reach.
    user = request.user
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            wanted = form.cleaned_data["non_essential"]
            notification_preference_set(user, non_essential=wanted)
            messages.success(request, _("已开启知悉类评审邮件。") if wanted
                             else _("已关闭知悉类评审邮件；必要通知仍会发送。"))
            return redirect("reviews:notification_preferences")
    else:
        form = PreferenceForm(initial={"non_essential": wants_non_essential(user)})
    return render(request, "reviews/notification_preferences.html", {
        "form": form, "email": user.email})
